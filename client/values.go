package client

import (
	"fmt"

	"github.com/omniq/omniq/queue"
	"github.com/omniq/omniq/values"
)

// normalizeValue checks and normalizes a free-form value as the embedded
// engine does (values.Normalize gives what the log's codec gives, without
// linking it), so that bad input fails the same way before it is sent.
// Errors wrap queue.ErrInvalidArgs.
func normalizeValue(what string, v any) (any, error) {
	n, err := values.Normalize(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", queue.ErrInvalidArgs, what, err)
	}
	return n, nil
}
