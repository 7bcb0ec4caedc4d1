package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/omniq/omniq/queue"
)

// Duration is a time.Duration on the wire: written as a number of seconds
// (90, 1.5), read from a number of seconds or a Go duration string ("90s",
// "1h30m"). JSON null is zero.
type Duration time.Duration

// maxSeconds is the longest duration a time.Duration holds, in seconds.
const maxSeconds = float64(math.MaxInt64) / float64(time.Second)

// MarshalJSON writes d as seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads seconds or a duration string. Errors wrap
// queue.ErrInvalidArgument.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: duration: %v", queue.ErrInvalidArgument, err)
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%w: duration %s must be a number of seconds or a string like \"90s\"", queue.ErrInvalidArgument, trunc(string(b)))
	}
	v, err := secondsToDuration(f)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a Go duration string ("90s", "1h30m") or a plain
// number of seconds ("90", "1.5"). Errors wrap queue.ErrInvalidArgument.
func ParseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsToDuration(f)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: duration %q: want seconds or a Go duration such as \"90s\" or \"1h30m\"", queue.ErrInvalidArgument, trunc(s))
	}
	return v, nil
}

func secondsToDuration(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= maxSeconds {
		return 0, fmt.Errorf("%w: duration of %v seconds is out of range", queue.ErrInvalidArgument, f)
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
