package events

import (
	"fmt"

	"github.com/omniq/omniq/values"
)

// ErrUnencodable: a task argument, keyword argument or result holds a value
// that is not plain data (see package values, which holds the rules).
var ErrUnencodable = values.ErrUnencodable

// MaxValueDepth bounds how deeply arguments and results may nest.
const MaxValueDepth = values.MaxDepth

// CheckValue reports whether v is plain data that survives the log unchanged in
// meaning (values.Check): nil, bools, numbers, strings, byte slices, slices and
// arrays of plain data, maps with string keys, and structs of exported
// plain-data fields. Errors wrap ErrUnencodable and name the path of the
// offending value.
func CheckValue(v any) error { return values.Check(v) }

// checkPayload applies CheckValue to the free-form values a payload carries.
func checkPayload(p Payload) error {
	switch p := p.(type) {
	case *TaskEnqueued:
		return checkSpec(&p.Spec)
	case *ScheduleCreated:
		return checkSpec(&p.Template)
	case *TaskCompleted:
		if err := CheckValue(p.Result); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	return nil
}

func checkSpec(s *TaskSpec) error {
	if err := CheckValue(s.Args); err != nil {
		return fmt.Errorf("args: %w", err)
	}
	if err := CheckValue(s.Kwargs); err != nil {
		return fmt.Errorf("kwargs: %w", err)
	}
	return nil
}

// Normalize returns v as the log gives it back after a round trip: integers
// as int64, floats as float64, maps as map[string]any, slices as []any,
// structs as maps (values.Normalize, which gives what a round trip through
// the codec gives, without the round trip; its tests compare the two).
// Values that already have that shape are returned as they are. The engine
// normalizes arguments and results before applying events so that live
// state equals state rebuilt from the log (docs/design.md, invariant 2).
// Errors wrap ErrUnencodable.
func Normalize(v any) (any, error) { return values.Normalize(v) }
