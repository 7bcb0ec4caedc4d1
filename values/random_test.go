package values_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/omniq/omniq/values"
)

// shapes are the types random values are made of.
var shapes = []reflect.Type{
	reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](),
	reflect.TypeFor[int64](), reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](),
	reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[float32](), reflect.TypeFor[float64](),
	reflect.TypeFor[bool](), reflect.TypeFor[string](), reflect.TypeFor[[]byte](), reflect.TypeFor[[4]byte](),
	reflect.TypeFor[[0]byte](), reflect.TypeFor[myInt](), reflect.TypeFor[myUint](), reflect.TypeFor[myFloat](),
	reflect.TypeFor[myString](), reflect.TypeFor[myBytes](), reflect.TypeFor[myByte](), reflect.TypeFor[myList](),
	reflect.TypeFor[myMap](), reflect.TypeFor[myArray](), reflect.TypeFor[myTime](), reflect.TypeFor[time.Time](),
	reflect.TypeFor[*time.Time](), reflect.TypeFor[time.Duration](), reflect.TypeFor[[]any](),
	reflect.TypeFor[map[string]any](), reflect.TypeFor[[]int](), reflect.TypeFor[[]string](),
	reflect.TypeFor[[2]float32](), reflect.TypeFor[map[string]int8](), reflect.TypeFor[map[string][]byte](),
	reflect.TypeFor[map[myString]uint64](), reflect.TypeFor[map[string]*int](), reflect.TypeFor[[]*float64](),
	reflect.TypeFor[*int](), reflect.TypeFor[**string](), reflect.TypeFor[[]myByte](), reflect.TypeFor[[][]byte](),
	reflect.TypeFor[plain](), reflect.TypeFor[*plain](), reflect.TypeFor[tagged](), reflect.TypeFor[*tagged](),
	reflect.TypeFor[[]tagged](), reflect.TypeFor[map[string]tagged](), reflect.TypeFor[[2]tagged](),
	reflect.TypeFor[outer](), reflect.TypeFor[*outer](), reflect.TypeFor[outerTagged](), reflect.TypeFor[Rec](),
	reflect.TypeFor[*Rec](), reflect.TypeFor[arr](), reflect.TypeFor[omitAll](), reflect.TypeFor[binM](),
	reflect.TypeFor[*binM](), reflect.TypeFor[binValue](), reflect.TypeFor[[]binValue](),
	reflect.TypeFor[marshalOnly](), reflect.TypeFor[textOnly](), reflect.TypeFor[missing](),
	reflect.TypeFor[withIface](), reflect.TypeFor[Embedded](), reflect.TypeFor[Second](),
	reflect.TypeFor[struct{}](), reflect.TypeFor[zeroer](), reflect.TypeFor[ptrZeroer](),
	reflect.TypeFor[comparable2](), reflect.TypeFor[incomparable](), reflect.TypeFor[[]ptrZeroer](),
	reflect.TypeFor[map[string]ptrZeroer](),
}

// badShapes are not plain data.
var badShapes = []reflect.Type{
	reflect.TypeFor[func()](), reflect.TypeFor[chan int](), reflect.TypeFor[complex64](),
	reflect.TypeFor[uintptr](), reflect.TypeFor[map[int]string](), reflect.TypeFor[struct{ F func() }](),
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	missingType = reflect.TypeFor[missing]()
	anyType     = reflect.TypeFor[any]()
)

// gen makes random values of the shapes.
type gen struct {
	r      *rand.Rand
	bad    bool // now and then, a value that is not plain data
	hidden int  // > 0 within an unexported field, which Check does not look at
}

const maxGenDepth = 6

// value returns a random value of a random shape.
func (g *gen) value(depth int) any {
	if g.bad && g.r.IntN(40) == 0 {
		t := badShapes[g.r.IntN(len(badShapes))]
		if t.Kind() == reflect.Chan && g.hidden > 0 {
			t = badShapes[0] // the codec drains a channel Check did not see (TestNormalizeWhereTheCodecDiffers)
		}
		return g.fill(t, depth).Interface()
	}
	if depth >= maxGenDepth {
		return g.fill(shapes[g.r.IntN(14)], depth).Interface() // a number, a bool or a string
	}
	return g.fill(shapes[g.r.IntN(len(shapes))], depth).Interface()
}

func (g *gen) int64() int64 {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return math.MaxInt64
	case 2:
		return math.MinInt64
	case 3:
		return -1
	}
	return int64(g.r.Uint64())
}

func (g *gen) float() float64 {
	switch g.r.IntN(10) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return math.NaN()
	case 3:
		return math.Inf(1 - 2*g.r.IntN(2))
	case 4:
		return math.MaxFloat64
	case 5:
		return math.SmallestNonzeroFloat64
	case 6:
		return math.Float64frombits(g.r.Uint64())
	}
	return g.r.NormFloat64() * 1e6
}

func (g *gen) string() string {
	b := make([]byte, g.r.IntN(6))
	for i := range b {
		b[i] = "ab\x00é\xffxyz"[g.r.IntN(9)]
	}
	return string(b)
}

func (g *gen) time() time.Time {
	switch g.r.IntN(5) {
	case 0:
		return time.Time{}
	case 1:
		return time.Now()
	case 2:
		return time.Time{}.In(time.FixedZone("z", 3600))
	}
	t := time.Unix(g.r.Int64N(1<<40)-1<<39, g.r.Int64N(2e9))
	switch g.r.IntN(3) {
	case 0:
		t = t.UTC()
	case 1:
		t = t.In(time.FixedZone("z", -g.r.IntN(50000)))
	}
	return t
}

// fill returns a random value of type t.
func (g *gen) fill(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if t == timeType {
		v.Set(reflect.ValueOf(g.time()))
		return v
	}
	deep := depth >= maxGenDepth
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(g.r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(g.int64())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(g.int64()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(g.float())
	case reflect.Complex64, reflect.Complex128:
		v.SetComplex(complex(g.float(), 1))
	case reflect.String:
		v.SetString(g.string())
	case reflect.Slice:
		if deep || g.r.IntN(5) == 0 {
			return v // nil
		}
		n := g.r.IntN(4)
		v.Set(reflect.MakeSlice(t, n, n))
		for i := range n {
			v.Index(i).Set(g.fill(t.Elem(), depth+1))
		}
	case reflect.Array:
		for i := range v.Len() {
			v.Index(i).Set(g.fill(t.Elem(), depth+1))
		}
	case reflect.Map:
		if deep || g.r.IntN(5) == 0 {
			return v // nil
		}
		v.Set(reflect.MakeMap(t))
		for range g.r.IntN(4) {
			v.SetMapIndex(g.fill(t.Key(), depth+1), g.fill(t.Elem(), depth+1))
		}
	case reflect.Pointer:
		if deep || g.r.IntN(4) == 0 {
			return v // nil
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(g.fill(t.Elem(), depth+1))
		v.Set(p)
	case reflect.Interface:
		switch {
		case g.r.IntN(6) == 0:
			// nil
		case t == anyType:
			if x := g.value(depth + 1); x != nil {
				v.Set(reflect.ValueOf(x))
			}
		case t == reflect.TypeFor[error]():
			v.Set(reflect.ValueOf(errors.New(g.string())))
		default: // fmt.Stringer
			v.Set(reflect.ValueOf(textOnly{V: int(g.int64())}))
		}
	case reflect.Chan:
		v.Set(reflect.MakeChan(t, 0))
	case reflect.Func:
		v.Set(reflect.MakeFunc(t, func([]reflect.Value) []reflect.Value { return nil }))
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			fv := v.Field(i)
			if !f.IsExported() {
				// An embedded struct, or a number: the codec may write
				// the one, Check looks at neither.
				if k := f.Type.Kind(); k != reflect.Struct && k != reflect.Int {
					continue
				}
				fv = reflect.NewAt(f.Type, unsafe.Pointer(fv.UnsafeAddr())).Elem()
				g.hidden++
				fv.Set(g.fill(f.Type, depth+1))
				g.hidden--
				continue
			}
			fv.Set(g.fill(f.Type, depth+1))
		}
		if t == missingType {
			// Its extra fields are written as top-level values, whose
			// nil pointers the codec fails on (TestNormalizeWhereTheCodecDiffers),
			// and must not repeat a field's name.
			m := v.Addr().Interface().(*missing)
			for k, x := range m.M {
				if k == "A" || k == "M" || reflect.ValueOf(x).Kind() == reflect.Pointer {
					delete(m.M, k)
				}
			}
		}
	}
	return v
}

// normalizesAsTheLog makes random values from a seed and compares what
// values.Normalize and the log's codec make of them.
func normalizesAsTheLog(t *testing.T, a, b uint64) {
	g := &gen{r: rand.New(rand.NewPCG(a, b)), bad: a%3 == 0}
	for range 4 {
		v := g.value(0)
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			if got, err := values.Normalize(v); got != nil || err != nil {
				t.Errorf("Normalize(nil %T) = %#v, %v", v, got, err)
			}
			continue // the codec fails on some (TestNormalizeWhereTheCodecDiffers)
		}
		compare(t, "random", v, false)
	}
}

func TestNormalizeRandomValues(t *testing.T) {
	n := uint64(3000)
	if testing.Short() {
		n = 300
	}
	for i := range n {
		normalizesAsTheLog(t, i, i*0x9e3779b97f4a7c15)
	}
}

func FuzzNormalize(f *testing.F) {
	for i := range uint64(8) {
		f.Add(i, i<<32|i)
	}
	f.Fuzz(normalizesAsTheLog)
}
