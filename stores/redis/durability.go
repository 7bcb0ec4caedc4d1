package redis

import (
	"context"
	"fmt"

	"github.com/omniq/omniq/stores"
)

// Durability is the server's persistence configuration, which decides what an
// acknowledged Append survives (see the package doc).
type Durability struct {
	AppendOnly  bool   // appendonly yes: writes go to the AOF
	AppendFsync string // always, everysec or no: when the AOF is fsynced
	Save        string // RDB save points, "" for none
}

// String says in one line what an acknowledged append survives.
func (d Durability) String() string {
	switch {
	case !d.AppendOnly && d.Save == "":
		return "appendonly no, no RDB saves: appends survive an omniq crash but not a Redis restart"
	case !d.AppendOnly:
		return fmt.Sprintf("appendonly no, RDB save %q: a Redis restart loses appends since the last save", d.Save)
	case d.AppendFsync == "always":
		return "appendonly yes, appendfsync always: appends are fsynced before Redis replies"
	case d.AppendFsync == "everysec":
		return "appendonly yes, appendfsync everysec: appends survive a Redis restart; power loss can lose about a second"
	default:
		return fmt.Sprintf("appendonly yes, appendfsync %s: appends survive a Redis restart; power loss can lose what the OS has not flushed", d.AppendFsync)
	}
}

// Durability reads the server's persistence settings with CONFIG GET. It fails
// when CONFIG is disabled or renamed (as on some managed services).
func (l *Log) Durability(ctx context.Context) (Durability, error) {
	var d Durability
	if l.closed.Load() {
		return d, stores.ErrClosed
	}
	for _, param := range []string{"appendonly", "appendfsync", "save"} {
		m, err := l.rdb.ConfigGet(ctx, param).Result()
		if err != nil {
			return d, interpretError(ctx, "config get "+param, err)
		}
		v, ok := m[param]
		if !ok {
			return d, fmt.Errorf("redis: config get %s: no such parameter", param)
		}
		switch param {
		case "appendonly":
			d.AppendOnly = v == "yes"
		case "appendfsync":
			d.AppendFsync = v
		case "save":
			d.Save = v
		}
	}
	return d, nil
}
