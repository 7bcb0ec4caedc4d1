package engine

import "errors"

// errConflict tells the commit loop that a command touches a task another
// command in the same batch already reserved; it is retried in the next batch.
var errConflict = errors.New("engine: conflicts with a command in flight")
