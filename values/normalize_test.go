package values_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/omniq/omniq/events"
	"github.com/omniq/omniq/values"
)

// same reports whether a and b are the same canonical value: equal types
// and contents, NaN equal to NaN, 0 and -0 told apart.
func same(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (math.IsNaN(a) && math.IsNaN(b) || a == b && math.Signbit(a) == math.Signbit(b))
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) || (a == nil) != (b == nil) {
			return false
		}
		for i := range a {
			if !same(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) || (a == nil) != (b == nil) {
			return false
		}
		for k, x := range a {
			y, ok := b[k]
			if !ok || !same(x, y) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// viaCodec is v after a round trip through the log's msgpack codec, as
// the engine made it before package values: a value that already has the
// log's shape as it is, else the value checked, encoded and decoded.
func viaCodec(v any) (any, error) {
	if logShaped(v, 0) {
		return v, nil
	}
	if err := events.CheckValue(v); err != nil {
		return nil, err
	}
	b, err := events.MarshalValue(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := events.UnmarshalValue(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// logShaped reports whether v, at depth, is made of the shapes the log
// gives back and nests no deeper than values.MaxDepth.
func logShaped(v any, depth int) bool {
	ok := depth <= values.MaxDepth
	switch v := v.(type) {
	case nil, int64, float64, string, bool, []byte:
	case []any:
		for i := 0; ok && i < len(v); i++ {
			ok = logShaped(v[i], depth+1)
		}
	case map[string]any:
		for _, x := range v {
			ok = ok && logShaped(x, depth+1)
		}
	default:
		ok = false
	}
	return ok
}

// compare checks that values.Normalize gives for v what a round trip
// through the log's codec gives: the same value, or errors that say the
// same.
func compare(t *testing.T, name string, v any, sameText bool) {
	t.Helper()
	want, wantErr := viaCodec(v)
	got, err := values.Normalize(v)
	switch {
	case wantErr == nil && err == nil:
		if !same(got, want) {
			t.Errorf("%s: Normalize(%#v)\n got  %#v\n want %#v", name, v, got, want)
		}
	case wantErr != nil && err != nil:
		if !errors.Is(err, values.ErrUnencodable) {
			t.Errorf("%s: error %v does not wrap ErrUnencodable", name, err)
		}
		w := strings.TrimPrefix(wantErr.Error(), events.ErrUnencodable.Error())
		g := strings.TrimPrefix(err.Error(), values.ErrUnencodable.Error())
		if sameText && g != w {
			t.Errorf("%s: error %q, want %q", name, g, w)
		}
	default:
		t.Errorf("%s: Normalize(%#v) = %#v, %v; the log's codec gives %#v, %v", name, v, got, err, want, wantErr)
	}
}

func ptr[T any](v T) *T { return &v }

func TestNormalizeAsTheLog(t *testing.T) {
	now := time.Now() // with a monotonic reading, in Local
	east := time.FixedZone("east", 5*3600+30*60)
	deep := func(n int) any {
		var v any = int64(1)
		for range n {
			v = []any{v}
		}
		return v
	}
	deepTyped := func(n int) any {
		var v any = 1
		for range n {
			v = []any{v}
		}
		return v
	}
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	type node struct {
		Next *node
		V    int
	}
	loop := &node{V: 1}
	loop.Next = loop
	var nilMap map[string]int
	var nilIface any
	cases := map[string]any{
		"nil":                  nil,
		"int":                  7,
		"int8 min":             int8(math.MinInt8),
		"int16":                int16(-300),
		"int32 max":            int32(math.MaxInt32),
		"int64 min":            int64(math.MinInt64),
		"uint":                 uint(7),
		"uint8 max":            uint8(math.MaxUint8),
		"uint16":               uint16(60000),
		"uint32 max":           uint32(math.MaxUint32),
		"uint64 max int64":     uint64(math.MaxInt64),
		"uint64 above int64":   uint64(math.MaxInt64) + 1,
		"uint64 max":           uint64(math.MaxUint64),
		"float32":              float32(0.1),
		"float32 max":          float32(math.MaxFloat32),
		"float32 tiny":         float32(math.SmallestNonzeroFloat32),
		"float32 NaN":          float32(math.NaN()),
		"float32 -Inf":         float32(math.Inf(-1)),
		"float64 NaN":          math.NaN(),
		"float64 +Inf":         math.Inf(1),
		"float64 -0":           math.Copysign(0, -1),
		"float32 -0":           float32(math.Copysign(0, -1)),
		"floats":               []float32{1.5, float32(math.NaN()), float32(math.Inf(1))},
		"bool":                 true,
		"string":               "héllo",
		"invalid UTF-8":        "\xff\xfe",
		"string slice":         []string{"a", "", "\xff"},
		"nil string slice":     []string(nil),
		"bytes":                []byte("abc"),
		"nil bytes":            []byte(nil),
		"empty bytes":          []byte{},
		"bytes in a list":      []any{[]byte("x"), []byte(nil), int64(1)},
		"bytes among ints":     []any{[]byte("x"), 1},
		"bytes in a map":       map[string]any{"b": []byte("x"), "n": 1},
		"byte array":           [3]byte{1, 2, 3},
		"empty byte array":     [0]byte{},
		"named bytes":          myBytes("ab"),
		"nil named bytes":      myBytes(nil),
		"named byte elems":     []myByte{1, 2},
		"named byte array":     myArray{1, 2, 3},
		"list of bytes":        [][]byte{[]byte("a"), nil, {}},
		"int array":            [2]int{1, 2},
		"empty int array":      [0]int{},
		"nil slice":            []int(nil),
		"empty slice":          []int{},
		"nil map":              nilMap,
		"empty map":            map[string]int{},
		"nil pointer in list":  []*int{nil, ptr(3)},
		"nil interface":        []any{nilIface},
		"nil things in a list": []any{(*int)(nil), []int(nil), map[string]any(nil), (*plain)(nil), myBytes(nil)},
		"nil things in a map":  map[string]any{"p": (*int)(nil), "s": []int(nil), "m": map[string]any(nil), "b": []byte(nil)},
		"pointer":              ptr(5),
		"pointer to pointer":   ptr(ptr("s")),
		"pointer to struct":    &plain{A: 1},
		"nil struct pointer":   (*plain)(nil),
		"named int":            myInt(-4),
		"named uint":           myUint(math.MaxUint64),
		"named float":          myFloat(2.5),
		"named string":         myString("s"),
		"named list":           myList{1, 2},
		"named map":            myMap{"k": myInt(1), "l": myList{3}},
		"duration":             time.Second,
		"map of lists":         map[string][]int{"a": {1, 2}, "b": nil},
		"map of maps":          map[string]map[string]uint8{"a": {"b": 1}, "c": nil},
		"map of pointers":      map[string]*float32{"a": nil, "b": ptr(float32(1.25))},
		"map of bytes":         map[string][]byte{"a": []byte("x"), "b": nil},
		"map of any":           map[string]any{"i": 1, "u": uint(2), "f": float32(3), "s": "s", "l": []int{4}},
		"map of structs":       map[string]plain{"a": {A: 1}},
		"map of times":         map[string]time.Time{"zero": {}, "now": now},
		"map named keys":       map[myString]int{"a": 1},
		"canonical":            map[string]any{"a": []any{int64(1), 2.5, "s", true, nil, []byte("b")}},
		"list of canonical":    []any{int64(1), map[string]any{"x": []any{}}},
		"time":                 now,
		"time in a zone":       now.In(east),
		"time UTC":             time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC),
		"time before 1970":     time.Date(1901, 1, 2, 3, 4, 5, 6, east),
		"time far ahead":       time.Date(2500, 1, 2, 3, 4, 5, 999999999, time.UTC),
		"time of whole secs":   time.Unix(1e9, 0),
		"time year 1":          time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		"time year -5":         time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
		"zero time":            time.Time{},
		"zero time elsewhere":  time.Time{}.In(east),
		"time pointer":         &now,
		"nil time pointer":     []*time.Time{nil},
		"named time":           myTime(now),
		"times":                []time.Time{{}, now},
		"plain":                plain{A: 1, B: "b", C: []float32{0.5}, D: map[string]int8{"x": -1}, E: ptr(2), F: []int{3}, G: [2]byte{4, 5}, H: []byte("h"), I: now, J: &now, K: myBytes("k"), L: []myByte{6}, unexported: 9},
		"plain zero":           plain{},
		"tagged zero":          tagged{M: zeroer{V: 7}, N: ptrZeroer{V: 7}},
		"tagged":               tagged{A: 1, B: 2, C: 3, D: 4, E: 5, F: 6, G: "g", H: []int{}, I: map[string]int{}, J: &plain{}, K: 0, L: now, M: zeroer{V: 1}, N: ptrZeroer{V: 1}, O: comparable2{A: 1}, Q: math.NaN(), R: true, S: 1, T: incomparable{}, U: myTime(now), V: &ptrZeroer{V: 7}, W: []ptrZeroer{{7}}, X: 8, Y: 9},
		"tagged by pointer":    &tagged{M: zeroer{V: 7}, N: ptrZeroer{V: 7}, O: comparable2{B: "x"}},
		"tagged in a list":     []tagged{{N: ptrZeroer{V: 7}}, {N: ptrZeroer{V: 1}}},
		"tagged in a map":      map[string]tagged{"a": {N: ptrZeroer{V: 7}}},
		"tagged in an array":   [1]tagged{{N: ptrZeroer{V: 7}}},
		"outer zero":           outer{},
		"outer": outer{Embedded: Embedded{X: 1, Y: "e", Z: ptr(2)}, Second: &Second{Y: "s", Q: 3},
			inner: inner{X: 4, V: []any{now, uint(5)}, T: now, M: map[string]any{"k": binM{1}}, B: binM{2}}, embeddedPtr: &embeddedPtr{W: 6},
			Named: Embedded{X: 7}, Inline: Second{Q: 8}, X: 9},
		"outer tagged":       outerTagged{Embedded: Embedded{X: 1}, Second: &Second{Y: "s"}, myInt: 3, MyString: "m"},
		"outer tagged nil":   outerTagged{},
		"recursive":          Rec{Rec: &Rec{Rec: &Rec{N: 3}, N: 2}, N: 1},
		"recursive nil":      &Rec{N: 1},
		"toarray":            arr{A: 1, B: []int{2}, C: "c", D: ptr(4)},
		"toarray empty":      arr{},
		"omitempty all":      omitAll{},
		"omitempty all full": omitAll{A: 1, B: "b", C: ptr(0), D: Embedded{Y: "y"}},
		"binary":             binM{V: 3},
		"binary pointer":     &binM{V: 3},
		"binary nil bytes":   binM{V: -1},
		"binary in a list":   []binM{{1}, {-1}},
		"binary in a map":    map[string]any{"b": binM{4}, "p": &binM{5}, "n": (*binM)(nil)},
		"binary named int":   binValue(3),
		"binary named ints":  []binValue{1, 2},
		"marshal only":       marshalOnly{V: 1},
		"text and json":      textOnly{V: 1},
		"net-like bytes":     []any{myBytes{127, 0, 0, 1}},
		"missing fielder":    missing{A: 1, M: map[string]any{"extra": uint(1), "": 2, "b": []int{1}}},
		"missing nil":        &missing{A: 1},
		"interface field":    withIface{Stringer: textOnly{V: 2}, E: errors.New("e")},
		"interface nil":      withIface{},
		"empty struct":       struct{}{},
		"incomparable field": tagged{O: comparable2{B: []int{1}}},
		"anonymous struct":   struct{ A, B int }{1, 2},
		"deep canonical ok":  deep(32),
		"deep canonical":     deep(33),
		"deep typed ok":      deepTyped(16),
		"deep typed":         deepTyped(17),
	}
	for name, v := range cases {
		compare(t, name, v, true)
	}
	bad := map[string]any{
		"func":           func() {},
		"chan":           make(chan int),
		"complex":        complex(1, 2),
		"uintptr":        uintptr(1),
		"unsafe pointer": unsafe.Pointer(nil),
		"int keys":       map[int]string{1: "a"},
		"func in a list": []any{1, func() {}},
		"chan in a map":  map[string]any{"c": make(chan int)},
		"func field":     struct{ F func() }{},
		"func field skipped": struct {
			F func() `codec:"-"`
		}{},
		"bad in a pointer": ptr(any(complex(1, 1))),
		"map cycle":        cyclic,
		"pointer cycle":    loop,
		"bad deep in a struct": struct {
			A []map[string]any
		}{A: []map[string]any{{"x": []any{1, func() {}}}}},
		"binary fails":  binFails{},
		"binary panics": []any{binPanics{}},
	}
	for name, v := range bad {
		// The codec says a failing MarshalBinary in its own words.
		compare(t, name, v, !strings.HasPrefix(name, "binary"))
	}
}

// Check does not look into an unexported embedded struct, which the codec
// writes: there the limit is the log decoder's nesting limit.
func TestNormalizeNestingPastCheck(t *testing.T) {
	for n := 25; n <= 35; n++ {
		var v any = 1
		for range n {
			v = []any{map[string]any{"k": v}}
		}
		compare(t, "nested "+strings.Repeat("[", n%10), outer{inner: inner{V: v}}, false)
	}
}

// Where the codec fails on a value it was meant to write, Normalize gives
// the value's canonical form; where it reads a channel, Normalize refuses.
func TestNormalizeWhereTheCodecDiffers(t *testing.T) {
	// The codec's shortcut for a pointer to a basic type, at the top,
	// dereferences it unchecked.
	for _, v := range []any{(*int)(nil), (*string)(nil), (*float32)(nil), (*time.Time)(nil), (*[]byte)(nil)} {
		if _, err := viaCodec(v); err == nil {
			t.Errorf("the codec now writes a nil %T: compare it again", v)
		}
		if got, err := values.Normalize(v); got != nil || err != nil {
			t.Errorf("Normalize(nil %T) = %#v, %v; want nil", v, got, err)
		}
	}
	// An extra field of a struct (CodecMissingFields) that repeats the name
	// of a field: the codec writes a record it cannot read; the extra
	// field's value wins, as it would when decoded.
	v := missing{A: 1, M: map[string]any{"A": "extra"}}
	if _, err := viaCodec(v); err == nil {
		t.Error("the codec now reads back a struct whose extra field repeats a field: compare it again")
	}
	got, err := values.Normalize(v)
	if want := map[string]any{"A": "extra", "M": map[string]any{"A": "extra"}}; err != nil || !same(got, want) {
		t.Errorf("Normalize(%#v) = %#v, %v; want %#v", v, got, err, want)
	}
	// A channel in an unexported embedded struct, which Check does not
	// look into: the codec takes what is buffered in it, and writes that as
	// a list.
	ch := make(chan int, 1)
	ch <- 1
	hidden := outer{inner: inner{V: ch}}
	if got, err := viaCodec(hidden); err != nil || got.(map[string]any)["V"] == nil || len(ch) != 0 {
		t.Errorf("the codec now writes a hidden channel as %#v, %v: compare it again", got, err)
	}
	ch <- 1
	if got, err := values.Normalize(hidden); !errors.Is(err, values.ErrUnencodable) || len(ch) != 1 {
		t.Errorf("Normalize(a hidden channel) = %#v, %v; want ErrUnencodable, the channel untouched", got, err)
	}
}
