// Package values holds the rules for the free-form values a task carries
// (arguments, keyword arguments, results): which values are plain data
// (Check) and the canonical form the log gives them back in (Normalize).
// It imports only the standard library, so that a program may apply the
// rules without linking the log's codec: the client normalizes what it
// sends as the engine does, and fails on the same bad input.
package values

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrUnencodable: a task argument, keyword argument or result holds a value
// that is not plain data (a func, a channel, a complex number, a map with
// non-string keys, a cycle or nesting deeper than MaxDepth).
var ErrUnencodable = errors.New("value is not plain data")

// MaxDepth bounds how deeply arguments and results may nest.
const MaxDepth = 32

// Check reports whether v is plain data that survives the log unchanged in
// meaning: nil, bools, numbers, strings, byte slices, slices and arrays of
// plain data, maps with string keys, and structs of exported plain-data
// fields. Errors wrap ErrUnencodable and name the path of the offending
// value.
func Check(v any) error {
	return check(reflect.ValueOf(v), "", 0)
}

func check(v reflect.Value, path string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: %s nests deeper than %d", ErrUnencodable, pathOr(path), MaxDepth)
	}
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return nil
	case reflect.Interface:
		// Not a level of nesting: an element of []any or map[string]any
		// is an interface around its value, and depth counts the lists,
		// maps and structs around a value, as Normalize and the encoder do.
		if v.IsNil() {
			return nil
		}
		return check(v.Elem(), path, depth)
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return check(v.Elem(), path, depth+1)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := 0; i < v.Len(); i++ {
			if err := check(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
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
			if err := check(it.Value(), path+"."+it.Key().String(), depth+1); err != nil {
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
			if err := check(v.Field(i), path+"."+t.Field(i).Name, depth+1); err != nil {
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
