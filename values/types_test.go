package values_test

import (
	"errors"
	"fmt"
	"time"
)

// Types of every shape the codec treats in its own way.

type (
	myInt    int16
	myUint   uint64
	myFloat  float32
	myString string
	myBytes  []byte
	myByte   uint8
	myList   []myInt
	myMap    map[myString]any
	myArray  [3]myByte
	myTime   time.Time // no methods: a struct of unexported fields
)

type plain struct {
	A          int
	B          string
	C          []float32
	D          map[string]int8
	E          *int
	F          any
	G          [2]byte
	H          []byte
	I          time.Time
	J          *time.Time
	K          myBytes
	L          []myByte
	unexported int
}

type tagged struct {
	A int            `codec:"a"`
	B int            `json:"b"`
	C int            `codec:"c" json:"x"`
	D int            `codec:"-"`
	E int            `json:"-"`
	F int            `codec:",omitempty"`
	G string         `json:"g,omitempty"`
	H []int          `codec:",omitempty"`
	I map[string]int `codec:"i,omitempty"`
	J *plain         `codec:",omitempty"`
	K any            `codec:",omitempty"`
	L time.Time      `codec:",omitempty"`
	M zeroer         `codec:",omitempty"`
	N ptrZeroer      `codec:",omitempty"`
	O comparable2    `codec:",omitempty"`
	P [0]int         `codec:",omitempty"`
	Q float64        `codec:",omitempty"`
	R bool           `codec:",omitempty"`
	S uint8          `codec:",omitempty"`
	T incomparable   `codec:",omitempty"`
	U myTime         `codec:",omitempty"`
	V *ptrZeroer     `codec:",omitempty"`
	W []ptrZeroer
	X int `codec:"" json:"jx"`
	Y int `codec:"-," json:"-"`
}

type zeroer struct{ V int }

func (z zeroer) IsZero() bool { return z.V == 7 }

type ptrZeroer struct{ V int }

func (z *ptrZeroer) IsZero() bool { return z.V == 7 }

type comparable2 struct {
	A int
	B any
}

type incomparable struct{ A []int }

type Embedded struct {
	X int
	Y string
	Z *int
}

type Second struct {
	Y string
	Q int
}

type embeddedPtr struct{ W int }

type inner struct {
	X int
	V any
	T time.Time
	M map[string]any
	B binM
}

type outer struct {
	Embedded
	*Second
	inner
	*embeddedPtr
	Named  Embedded `codec:"named"`
	Inline Second   `codec:",omitempty"`
	X      int
}

// Flattened: a tag without a name inlines an embedded struct.
type outerTagged struct {
	Embedded `codec:",omitempty"`
	*Second  `json:"second"`
	myInt
	MyString myString
}

type Rec struct {
	*Rec
	N int
}

type arr struct {
	//lint:ignore U1000 the codec reads the options in its tag
	_struct struct{} `codec:",toarray"`
	A       int
	B       []int  `codec:",omitempty"`
	C       string `codec:",omitempty"`
	D       *int   `codec:",omitempty"`
}

type omitAll struct {
	//lint:ignore U1000 the codec reads the options in its tag
	_struct struct{} `codec:",omitempty"`
	A       int
	B       string
	C       *int
	D       Embedded
}

type binM struct{ V int }

func (b *binM) MarshalBinary() ([]byte, error) {
	if b.V < 0 {
		return nil, nil
	}
	return fmt.Appendf(nil, "bin:%d", b.V), nil
}
func (b *binM) UnmarshalBinary([]byte) error { return nil }

type binValue int

func (b binValue) MarshalBinary() ([]byte, error) { return fmt.Appendf(nil, "v%d", int(b)), nil }
func (b *binValue) UnmarshalBinary([]byte) error  { return nil }

type binFails struct{ V int }

func (binFails) MarshalBinary() ([]byte, error) { return nil, errors.New("cannot") }
func (*binFails) UnmarshalBinary([]byte) error  { return nil }

type marshalOnly struct{ V int } // no UnmarshalBinary: written as a struct

func (marshalOnly) MarshalBinary() ([]byte, error) { return []byte("m"), nil }

type textOnly struct{ V int }

func (textOnly) MarshalText() ([]byte, error) { return []byte("t"), nil }
func (*textOnly) UnmarshalText([]byte) error  { return nil }
func (textOnly) MarshalJSON() ([]byte, error) { return []byte(`"j"`), nil }
func (*textOnly) UnmarshalJSON([]byte) error  { return nil }
func (textOnly) String() string               { return "s" }

type missing struct {
	A int
	M map[string]any
}

func (m *missing) CodecMissingField([]byte, any) bool { return false }
func (m *missing) CodecMissingFields() map[string]any { return m.M }

type withIface struct {
	fmt.Stringer
	E error
}

type binPanics struct{ V int }

func (binPanics) MarshalBinary() ([]byte, error) { panic("no") }
func (*binPanics) UnmarshalBinary([]byte) error  { return nil }
