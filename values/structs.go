package values

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// structInfo is how the codec writes a struct type.
type structInfo struct {
	fields    []*field // in the order of the type's fields
	sorted    []*field // by name: the order a map's entries are written in
	toArray   bool     // a list of the field values, not a map
	omitEmpty bool     // every field is omitempty ("_struct" field tag)
	missing   bool     // the type is a missingFielder
}

// field is a field the codec writes: a field of the struct or, through
// index, of a struct embedded in it.
type field struct {
	name      string
	index     []int
	omitEmpty bool
	ready     bool // not hidden by a shallower field of the same name
}

var structInfos sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{missing: t.Implements(missingFielderTy) || reflect.PointerTo(t).Implements(missingFielderTy)}
	if f, ok := t.FieldByName("_struct"); ok {
		si.toArray, si.omitEmpty = structOptions(structTag(f.Tag))
	}
	var all []field
	seen := []reflect.Type{t}
	collectFields(t, si.omitEmpty, nil, &seen, &all)
	si.fields = resolveFields(all)
	si.sorted = append([]*field(nil), si.fields...)
	sort.Sort(byName(si.sorted))
	got, _ := structInfos.LoadOrStore(t, si)
	return got.(*structInfo)
}

// byName sorts fields as the codec does: with sort.Sort, whose order
// among same-named fields of one depth decides which the map keeps.
type byName []*field

func (p byName) Len() int           { return len(p) }
func (p byName) Less(i, j int) bool { return p[i].name < p[j].name }
func (p byName) Swap(i, j int)      { p[i], p[j] = p[j], p[i] }

// structTag is the options of a field: its codec tag, or else its json tag.
func structTag(tag reflect.StructTag) string {
	if s := tag.Get("codec"); s != "" {
		return s
	}
	return tag.Get("json")
}

// structOptions reads the options of a "_struct" field's tag.
func structOptions(tag string) (toArray, omitEmpty bool) {
	if tag == "" {
		return false, false
	}
	for _, o := range strings.Split(tag, ",")[1:] {
		switch o {
		case "omitempty":
			omitEmpty = true
		case "toarray":
			toArray = true
		}
	}
	return toArray, omitEmpty
}

// parseTag sets f's name (when the tag gives one) and omitempty.
func (f *field) parseTag(tag string) {
	if tag == "" {
		return
	}
	for i, o := range strings.Split(tag, ",") {
		if i == 0 {
			if o != "" {
				f.name = o
			}
		} else if o == "omitempty" {
			f.omitEmpty = true
		}
	}
}

// maxEmbedSeen is how many times the codec descends into one embedded
// struct type (types that embed each other through pointers).
const maxEmbedSeen = 2

// collectFields appends the fields of t that the codec writes, embedded
// structs flattened, in the codec's order.
func collectFields(t reflect.Type, omitEmpty bool, index []int, seen *[]reflect.Type, all *[]field) {
	for j := 0; j < t.NumField(); j++ {
		sf := t.Field(j)
		switch sf.Type.Kind() {
		case reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
			continue
		}
		unexported := !sf.IsExported()
		if unexported && !sf.Anonymous {
			continue
		}
		tag := structTag(sf.Tag)
		if tag == "-" {
			continue
		}
		var f field
		parsed := false
		if sf.Anonymous && sf.Type.Kind() != reflect.Interface {
			ft := sf.Type
			isPtr := ft.Kind() == reflect.Pointer
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			isStruct := ft.Kind() == reflect.Struct
			if unexported && (!isStruct || isPtr) {
				continue
			}
			inline := tag == ""
			if !inline {
				f.parseTag(tag)
				parsed = true
				inline = f.name == ""
			}
			if inline && isStruct {
				n := 0
				for _, s := range *seen {
					if s == ft {
						n++
					}
				}
				if n < maxEmbedSeen {
					*seen = append(*seen, ft)
					collectFields(ft, omitEmpty, append(append([]int(nil), index...), j), seen, all)
				}
				continue
			}
		}
		if unexported {
			continue
		}
		if !parsed {
			f.name = sf.Name
			f.parseTag(tag)
		} else if f.name == "" {
			f.name = sf.Name
		}
		f.index = append(append([]int(nil), index...), j)
		f.omitEmpty = f.omitEmpty || omitEmpty
		f.ready = true
		*all = append(*all, f)
	}
}

// resolveFields drops each field that a shallower field of the same name
// hides. Same-named fields of one depth are all kept, as the codec keeps
// them (the map gets the one written last).
func resolveFields(all []field) []*field {
	first := make(map[string]int, len(all))
	for i := range all {
		j, ok := first[all[i].name]
		switch {
		case !ok:
			first[all[i].name] = i
		case len(all[i].index) < len(all[j].index):
			first[all[i].name] = i
			all[j].ready = false
		case len(all[i].index) > len(all[j].index):
			all[i].ready = false
		}
	}
	var out []*field
	for i := range all {
		if all[i].ready {
			out = append(out, &all[i])
		}
	}
	return out
}

// value returns the field in the struct v; ok is false when a nil embedded
// pointer is on the way. viaPointer says whether one was dereferenced.
func (f *field) value(v reflect.Value) (fv reflect.Value, ok, viaPointer bool) {
	for _, i := range f.index {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false, false
			}
			v, viaPointer = v.Elem(), true
		}
		v = v.Field(i)
	}
	return v, true, viaPointer
}

// normalStruct is the map (or, for toarray, the list) the codec makes of
// the struct rv.
func normalStruct(rv reflect.Value, addr bool, nesting int) (any, error) {
	si := structInfoOf(rv.Type())
	if nesting+1 >= maxNesting {
		return nil, deepError()
	}
	if si.toArray && !si.missing {
		out := make([]any, len(si.fields))
		for i, f := range si.fields {
			fv, _, viaPointer := f.value(rv)
			if f.omitEmpty && isEmpty(fv, addr || viaPointer) {
				switch fv.Kind() {
				case reflect.Struct, reflect.Interface, reflect.Pointer, reflect.Array, reflect.Map, reflect.Slice:
					continue // written as nil
				}
			}
			var err error
			if out[i], err = normalize(fv, addr || viaPointer, nesting+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	out := make(map[string]any, len(si.sorted))
	for _, f := range si.sorted {
		fv, _, viaPointer := f.value(rv)
		if f.omitEmpty && isEmpty(fv, addr || viaPointer) {
			continue
		}
		x, err := normalize(fv, addr || viaPointer, nesting+1)
		if err != nil {
			return nil, err
		}
		out[f.name] = x
	}
	if si.missing {
		m := rv.Addr().Interface().(missingFielder).CodecMissingFields()
		for k, v := range m {
			x := reflect.ValueOf(v)
			if k == "" || si.omitEmpty && isEmpty(x, false) {
				continue
			}
			n, err := normalize(addressable(x), false, nesting+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
	}
	return out, nil
}

// isEmpty is the codec's test for omitempty. addr says whether v would be
// addressable in the codec's walk.
func isEmpty(v reflect.Value, addr bool) bool {
	switch v.Kind() {
	case reflect.Invalid:
		return true
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	case reflect.Struct:
		return isEmptyStruct(unlock(v), addr)
	}
	return false
}

func isEmptyStruct(v reflect.Value, addr bool) bool {
	t := v.Type()
	switch {
	case t == timeType:
		return v.Interface().(time.Time).IsZero()
	case addr && reflect.PointerTo(t).Implements(isZeroerType):
		return v.Addr().Interface().(isZeroer).IsZero()
	case t.Implements(isZeroerType):
		return v.Interface().(isZeroer).IsZero()
	case t.Comparable():
		// Never panics: an interface field of the zero value is nil, so
		// an incomparable value in v's is told apart by its type.
		return v.Interface() == reflect.Zero(t).Interface()
	}
	return false
}
