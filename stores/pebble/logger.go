package pebble

import (
	"context"
	"fmt"
	"log/slog"

	pdb "github.com/cockroachdb/pebble/v2"
)

// slogLogger routes Pebble's logging to a slog.Logger. Pebble's Infof (flushes,
// compactions, WAL recovery) goes to Debug, so it is quiet unless the caller's
// handler asks for debug output; Errorf goes to Error.
type slogLogger struct{ l *slog.Logger }

var _ pdb.Logger = slogLogger{}

func (s slogLogger) Infof(format string, args ...any) {
	// Formatting is skipped when debug output is off: Pebble logs on every flush.
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		s.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (s slogLogger) Errorf(format string, args ...any) {
	s.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf logs and panics. Pebble calls it when it cannot go on (a failed WAL
// or MANIFEST write, a broken invariant) and relies on it not returning;
// pebble.DefaultLogger calls os.Exit. A panic gives the same stop with a stack.
func (s slogLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.l.Error(msg, "component", "pebble", "fatal", true)
	panic("pebble: fatal: " + msg)
}

// eventListener reports Pebble's background errors and detected corruption
// through l. It overrides Pebble's default for DataCorruption, which calls
// Fatalf: a corrupt block must fail the read that found it (as ErrCorrupt),
// not stop the process.
func eventListener(l slogLogger) *pdb.EventListener {
	return &pdb.EventListener{
		BackgroundError: func(err error) {
			l.Errorf("background error: %v", err)
		},
		DataCorruption: func(info pdb.DataCorruptionInfo) {
			l.Errorf("%s", info)
		},
	}
}
