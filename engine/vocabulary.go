package engine

import "github.com/omniq/omniq/queue"

// The task vocabulary lives in package queue, which the omniqd client
// shares; the engine re-exports it, so an embedded program needs only this
// package. Each name here is the queue package's (an alias, the same
// value), so errors.Is and type identity hold across the two.

type (
	Task          = queue.Task
	Schedule      = queue.Schedule
	State         = queue.State
	Handler       = queue.Handler
	WorkOptions   = queue.WorkOptions
	Outcome       = queue.Outcome
	Stats         = queue.Stats
	ClusterStatus = queue.ClusterStatus
	NodeInfo      = queue.NodeInfo
	TaskQueue     = queue.TaskQueue
	Queue         = queue.Queue
	TaskFilter    = queue.TaskFilter
	TaskLister    = queue.TaskLister
)

var (
	_ Queue     = (*Engine)(nil)
	_ TaskQueue = (*Engine)(nil)
)

const (
	DefaultQueue = queue.DefaultQueue

	DefaultListLimit = queue.DefaultListLimit
	MaxListLimit     = queue.MaxListLimit

	StateWaiting   = queue.StateWaiting
	StatePending   = queue.StatePending
	StateRunning   = queue.StateRunning
	StateCompleted = queue.StateCompleted
	StateFailed    = queue.StateFailed
	StateExpired   = queue.StateExpired
	StateCancelled = queue.StateCancelled
	StateScheduled = queue.StateScheduled

	MinPriority     = queue.MinPriority
	MaxPriority     = queue.MaxPriority
	MaxIDLen        = queue.MaxIDLen
	MaxFuncLen      = queue.MaxFuncLen
	MaxQueueNameLen = queue.MaxQueueNameLen
	MaxDependencies = queue.MaxDependencies
	MinInterval     = queue.MinInterval
	MaxDuration     = queue.MaxDuration
	MaxMetaEntries  = queue.MaxMetaEntries
	MaxMetaKeyLen   = queue.MaxMetaKeyLen
	MaxMetaValueLen = queue.MaxMetaValueLen
)

var (
	MinRunAt = queue.MinRunAt
	MaxRunAt = queue.MaxRunAt

	ErrNotFound          = queue.ErrNotFound
	ErrArchived          = queue.ErrArchived
	ErrTaskState         = queue.ErrTaskState
	ErrStaleLease        = queue.ErrStaleLease
	ErrLogChanged        = queue.ErrLogChanged
	ErrClosed            = queue.ErrClosed
	ErrInvalidArgument   = queue.ErrInvalidArgument
	ErrInvalidID         = queue.ErrInvalidID
	ErrDuplicateID       = queue.ErrDuplicateID
	ErrInvalidFunc       = queue.ErrInvalidFunc
	ErrInvalidQueueName  = queue.ErrInvalidQueueName
	ErrInvalidPriority   = queue.ErrInvalidPriority
	ErrInvalidRetries    = queue.ErrInvalidRetries
	ErrInvalidTTL        = queue.ErrInvalidTTL
	ErrInvalidArgs       = queue.ErrInvalidArgs
	ErrPayloadTooLarge   = queue.ErrPayloadTooLarge
	ErrUnknownDependency = queue.ErrUnknownDependency
	ErrDependencyCycle   = queue.ErrDependencyCycle
	ErrInvalidSchedule   = queue.ErrInvalidSchedule
	ErrInvalidCron       = queue.ErrInvalidCron
	ErrNotSchedule       = queue.ErrNotSchedule
	ErrInvalidMeta       = queue.ErrInvalidMeta
	ErrInvalidHandler    = queue.ErrInvalidHandler
	ErrNoHandler         = queue.ErrNoHandler
)

// ValidateQueueName is queue.ValidateQueueName.
func ValidateQueueName(name string) error { return queue.ValidateQueueName(name) }

// ValidateMeta is queue.ValidateMeta.
func ValidateMeta(meta map[string]string) error { return queue.ValidateMeta(meta) }
