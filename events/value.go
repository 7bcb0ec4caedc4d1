package events

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrUnencodable: a task argument, keyword argument or result holds a value
// that is not plain data (a func, a channel, a complex number, a map with
// non-string keys, a cycle or nesting deeper than MaxValueDepth).
var ErrUnencodable = errors.New("events: value is not plain data")

// MaxValueDepth bounds how deeply arguments and results may nest.
const MaxValueDepth = 32

// CheckValue reports whether v is plain data that survives the log unchanged in
// meaning: nil, bools, numbers, strings, byte slices, slices and arrays of plain
// data, maps with string keys, and structs of exported plain-data fields.
// Errors wrap ErrUnencodable and name the path of the offending value.
func CheckValue(v any) error {
	return checkValue(reflect.ValueOf(v), "", 0)
}

func checkValue(v reflect.Value, path string, depth int) error {
	if depth > MaxValueDepth {
		return fmt.Errorf("%w: %s nests deeper than %d", ErrUnencodable, pathOr(path), MaxValueDepth)
	}
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return nil
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return checkValue(v.Elem(), path, depth+1)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := 0; i < v.Len(); i++ {
			if err := checkValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("%w: %s is a map with %s keys (want string keys)", ErrUnencodable, pathOr(path), v.Type().Key())
		}
		it := v.MapRange()
		for it.Next() {
			if err := checkValue(it.Value(), path+"."+it.Key().String(), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			if err := checkValue(v.Field(i), path+"."+t.Field(i).Name, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s is a %s", ErrUnencodable, pathOr(path), v.Kind())
}

func pathOr(p string) string {
	if p == "" {
		return "value"
	}
	return "value" + p
}

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
// structs as maps. Values that already have that shape are returned as they
// are. The engine normalizes arguments and results before applying events so
// that live state equals state rebuilt from the log (docs/design.md,
// invariant 2).
// Errors wrap ErrUnencodable.
func Normalize(v any) (any, error) {
	if canonical(v, 0) {
		return v, nil
	}
	if err := CheckValue(v); err != nil {
		return nil, err
	}
	b, err := MarshalValue(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := UnmarshalValue(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func canonical(v any, depth int) bool {
	if depth > MaxValueDepth {
		return false
	}
	switch v := v.(type) {
	case nil, int64, float64, string, bool, []byte:
		return true
	case []any:
		for _, x := range v {
			if !canonical(x, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, x := range v {
			if !canonical(x, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}
