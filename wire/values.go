package wire

import (
	"bytes"
	"encoding/json"
)

// Free-form values (args, kwargs, results, event payloads) keep their Go
// number types across the wire: an integer is written without a decimal
// point and read back as int64, a float always with one ("2.0") or an
// exponent and read back as float64 — what the embedded engine gives back.

// jsonFloat is a float64 that JSON-encodes with a decimal point or exponent.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err != nil {
		return nil, err // NaN and ±Inf have no JSON form
	}
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, nil
}

// markFloats returns v with every float in it (through arrays and
// objects) as jsonFloat. It copies what it changes and never modifies v.
func markFloats(v any) any {
	switch v := v.(type) {
	case float64:
		return jsonFloat(v)
	case float32:
		return jsonFloat(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = markFloats(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = markFloats(e)
		}
		return out
	}
	return v
}

func markArgs(args []any) []any {
	if args == nil {
		return nil
	}
	return markFloats(args).([]any)
}

func markKwargs(kwargs map[string]any) map[string]any {
	if kwargs == nil {
		return nil
	}
	return markFloats(kwargs).(map[string]any)
}

// marshalSpecReflect is TaskSpec.MarshalJSON by encoding/json's
// reflection: the definition appendSpec keeps to, and its slow path.
func marshalSpecReflect(s TaskSpec) ([]byte, error) {
	type plain TaskSpec
	p := plain(s)
	p.Args, p.Kwargs = markArgs(p.Args), markKwargs(p.Kwargs)
	return json.Marshal(p)
}

// marshalTaskReflect is Task.MarshalJSON by encoding/json's reflection:
// the definition appendTask keeps to, and its slow path.
func marshalTaskReflect(t Task) ([]byte, error) {
	spec, err := marshalSpecReflect(t.TaskSpec)
	if err != nil {
		return nil, err
	}
	info := t.TaskInfo
	info.Result = markFloats(info.Result)
	rest, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	// Both are non-empty objects: join {spec…} and {info…} into {spec…,info…}.
	out := append(spec[:len(spec)-1:len(spec)-1], ',')
	return append(out, rest[1:]...), nil
}

// MarshalJSON writes r with float results marked as floats.
func (r CompleteRequest) MarshalJSON() ([]byte, error) {
	type plain CompleteRequest
	p := plain(r)
	p.Result = markFloats(p.Result)
	return json.Marshal(p)
}

// MarshalJSON writes e with float payload values marked as floats.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	p := plain(e)
	if p.Payload != nil {
		p.Payload = markFloats(p.Payload).(map[string]any)
	}
	return json.Marshal(p)
}
