package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"

	"github.com/omniq/omniq/queue"
)

// DecodeStrict reads exactly one JSON value from r into v, for the server:
// unknown fields, a wrong type, trailing data or an empty body are errors
// wrapping queue.ErrInvalidArgument; a body cut short by http.MaxBytesReader
// wraps queue.ErrPayloadTooLarge. Free-form values (args, kwargs, results)
// come out as the embedded engine gives them back: integers as int64, other
// numbers as float64, objects as map[string]any, arrays as []any.
func DecodeStrict(r io.Reader, v any) error {
	return decode(r, v, true)
}

// DecodeAnswer reads one JSON value from r into v, for the client: as
// DecodeStrict, but unknown fields are ignored (a newer server may add
// some) and what follows the value is ignored. A Task, TaskList or
// OutcomesAnswer is read from r to its end before it is decoded; other
// values are read no further than their end.
func DecodeAnswer(r io.Reader, v any) error {
	return decode(r, v, false)
}

// DecodeValue reads one free-form JSON value (numbers as int64 or float64),
// as DecodeStrict does for args.
func DecodeValue(data []byte) (any, error) {
	var v any
	if err := decode(bytes.NewReader(data), &v, true); err != nil {
		return nil, err
	}
	return v, nil
}

// decode reads the task wire forms with the fast parser (decodeFast), and
// everything else, or anything the fast parser gives up on, with
// encoding/json (decodeReflect): the results and errors are always
// decodeReflect's. A task form (always empty here, see fastTarget) is left
// empty by an error, where encoding/json would leave it partly filled.
func decode(r io.Reader, v any, strict bool) error {
	if !fastTarget(v) {
		return decodeReflect(r, v, strict)
	}
	buf := readBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledRead {
			readBufs.Put(buf)
		}
	}()
	_, rerr := buf.ReadFrom(r)
	if rerr == nil && decodeFast(buf.Bytes(), v, strict) {
		return nil
	}
	// encoding/json sees the same bytes, then the same read error.
	var replay io.Reader = bytes.NewReader(buf.Bytes())
	if rerr != nil {
		replay = io.MultiReader(replay, errReader{rerr})
	}
	fresh := reflect.New(reflect.TypeOf(v).Elem())
	if err := decodeReflect(replay, fresh.Interface(), strict); err != nil {
		return err
	}
	reflect.ValueOf(v).Elem().Set(fresh.Elem())
	return nil
}

// readBufs holds the buffers bodies are read into before decodeFast; the
// decoded values keep no reference to them (strings are copied).
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledRead = 1 << 20

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decodeReflect is decode by encoding/json alone: the definition the fast
// parser keeps to.
func decodeReflect(r io.Reader, v any, strict bool) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if strict {
		if _, err := dec.Token(); err != io.EOF {
			if err == nil || errors.Is(err, io.ErrUnexpectedEOF) || isSyntax(err) {
				return fmt.Errorf("%w: request body holds more than one JSON value", queue.ErrInvalidArgument)
			}
			return bodyError(err)
		}
	}
	return fixAnswer(v)
}

// fixAnswer is fixNumbers with a fast path for the answers that carry many
// tasks: only their free-form fields are walked.
func fixAnswer(v any) error {
	switch x := v.(type) {
	case *TaskList:
		return fixTasks(x.Tasks)
	case *OutcomesAnswer:
		return fixTasks(x.Tasks)
	case *Task:
		return fixTask(x)
	case *OutcomesRequest:
		for i := range x.Outcomes {
			n, err := normalizeNumbers(x.Outcomes[i].Result)
			if err != nil {
				return err
			}
			x.Outcomes[i].Result = n
		}
		return nil
	}
	return fixNumbers(reflect.ValueOf(v))
}

func fixTasks(tasks []Task) error {
	for i := range tasks {
		if err := fixTask(&tasks[i]); err != nil {
			return err
		}
	}
	return nil
}

// fixTask normalizes the numbers in t's args, kwargs and result, its only
// free-form fields.
func fixTask(t *Task) error {
	for i, a := range t.Args {
		n, err := normalizeNumbers(a)
		if err != nil {
			return err
		}
		t.Args[i] = n
	}
	if t.Kwargs != nil {
		if _, err := normalizeNumbers(t.Kwargs); err != nil { // in place
			return err
		}
	}
	n, err := normalizeNumbers(t.Result)
	if err != nil {
		return err
	}
	t.Result = n
	return nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return fmt.Errorf("%w: request body is larger than %d bytes", queue.ErrPayloadTooLarge, tooBig.Limit)
	case errors.Is(err, queue.ErrInvalidArgument):
		return err
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: request body is empty (want JSON)", queue.ErrInvalidArgument)
	}
	return fmt.Errorf("%w: request body: %v", queue.ErrInvalidArgument, err)
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// fixNumbers replaces the json.Number values that UseNumber left in the
// interface-typed parts of v (args, kwargs, results, payloads).
func fixNumbers(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return fixNumbers(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				if err := fixNumbers(v.Field(i)); err != nil {
					return err
				}
			}
		}
	case reflect.Slice:
		switch v.Type().Elem().Kind() {
		case reflect.Interface, reflect.Struct, reflect.Pointer, reflect.Slice, reflect.Map:
		default:
			return nil // no free-form values inside ([]byte, []string, …)
		}
		for i := 0; i < v.Len(); i++ {
			if err := fixNumbers(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.Interface {
			return nil
		}
		if m, ok := v.Interface().(map[string]any); ok {
			_, err := normalizeNumbers(m) // in place, its error the same for every map order
			return err
		}
		it := v.MapRange()
		for it.Next() {
			n, err := normalizeNumbers(it.Value().Interface())
			if err != nil {
				return err
			}
			v.SetMapIndex(it.Key(), valueOf(n, v.Type().Elem()))
		}
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return nil
		}
		n, err := normalizeNumbers(v.Interface())
		if err != nil {
			return err
		}
		v.Set(valueOf(n, v.Type()))
	}
	return nil
}

func valueOf(x any, t reflect.Type) reflect.Value {
	if x == nil {
		return reflect.Zero(t)
	}
	return reflect.ValueOf(x)
}

// normalizeNumbers turns json.Number into int64 (when integral and in
// range) or float64, through arrays and objects.
func normalizeNumbers(x any) (any, error) {
	switch x := x.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: number %s is out of range", queue.ErrInvalidArgument, trunc(x.String()))
		}
		return f, nil
	case []any:
		for i, e := range x {
			n, err := normalizeNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case map[string]any:
		var failed string // the least key whose value is refused
		var firstErr error
		for k, e := range x {
			n, err := normalizeNumbers(e)
			if err != nil {
				if firstErr == nil || k < failed {
					failed, firstErr = k, err
				}
				continue
			}
			x[k] = n
		}
		if firstErr != nil {
			// Map order is random: the least key's error, so that the
			// same body always gets the same error.
			return nil, firstErr
		}
	}
	return x, nil
}
