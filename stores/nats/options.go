package nats

import (
	"fmt"

	natsgo "github.com/nats-io/nats.go"
)

// DefaultName is the log name used when WithName is not given.
const DefaultName = "omniq"

// maxNameLen bounds a log name; stream and bucket names derive from it.
const maxNameLen = 64

type config struct {
	name     string
	replicas int
	connOpts []natsgo.Option
}

// Option configures Open.
type Option func(*config)

// WithName selects the log. A name is 1 to 64 ASCII letters, digits, '_' or
// '-'; the log lives in stream OMNIQ_<name> on subject omniq.<name>.log and in
// object store bucket OMNIQ_<name>. Default DefaultName.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithReplicas sets the replica count of the streams Open creates (1 to 5;
// default 1). It does not change streams that already exist. With more than
// one replica, reads go to the stream leader rather than to any replica, so a
// read always sees every acknowledged append.
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithConnOptions adds nats.go connection options (credentials, TLS, timeouts).
// They are applied after this package's own: reconnect forever, 250ms between
// attempts, no publish buffering while reconnecting.
func WithConnOptions(opts ...natsgo.Option) Option {
	return func(c *config) { c.connOpts = append(c.connOpts, opts...) }
}

func validateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("nats: log name %q: want 1 to %d characters", name, maxNameLen)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("nats: log name %q: only letters, digits, '_' and '-' are allowed", name)
		}
	}
	return nil
}
