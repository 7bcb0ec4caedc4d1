package events

import (
	"encoding/binary"
	"math"
)

// encodeFast appends the msgpack encoding of p to dst for the payloads that
// carry a checkpoint's state, and reports false for every other payload.
//
// It is here for memory, not speed: the codec encodes into a buffer of its
// own that grows by doubling and is then copied into dst, so a 512 KiB part
// left about 1.5 MiB of garbage, and a checkpoint is hundreds of parts.
//
// INVARIANT: for the payloads it takes, encodeFast writes exactly the bytes
// the codec writes with the log's handle (Canonical: keys sorted; omitempty
// fields left out when zero; []byte as bin, nil as nil; integers as
// msgpackEncDriver.EncodeInt writes them). TestFastEncodeMatchesCodec holds
// it to that.
func encodeFast(dst []byte, p Payload) ([]byte, bool) {
	switch p := p.(type) {
	case *LogCheckpoint:
		n := 3 // b, dr, st
		if p.Archive != "" {
			n++
		}
		if p.Elided {
			n++
		}
		if p.Parts != 0 {
			n++
		}
		dst = append(dst, 0x80|byte(n))
		if p.Archive != "" {
			dst = appendStr(appendStr(dst, "ar"), p.Archive)
		}
		dst = appendInt(appendStr(dst, "b"), int64(p.Before))
		dst = appendInt(appendStr(dst, "dr"), int64(p.Dropped))
		if p.Elided {
			dst = append(appendStr(dst, "el"), mpTrue)
		}
		if p.Parts != 0 {
			dst = appendInt(appendStr(dst, "pa"), int64(p.Parts))
		}
		return appendBin(appendStr(dst, "st"), p.State), true
	case *LogCheckpointPart:
		dst = append(dst, 0x82)
		dst = appendBin(appendStr(dst, "d"), p.Data)
		return appendInt(appendStr(dst, "i"), int64(p.Index)), true
	}
	return dst, false
}

// appendLen appends a container header: fix (the fixed form's base byte, 0
// when there is none) below fixCut, else the 8 (0 when there is none), 16 or
// 32-bit form.
func appendLen(dst []byte, n int, fix byte, fixCut int, b8, b16, b32 byte) []byte {
	switch {
	case fix != 0 && n < fixCut:
		return append(dst, fix|byte(n))
	case b8 != 0 && n < 256:
		return append(dst, b8, byte(n))
	case n < 65536:
		return binary.BigEndian.AppendUint16(append(dst, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, b32), uint32(n))
}

func appendStr(dst []byte, s string) []byte {
	return append(appendLen(dst, len(s), 0xa0, 32, mpStr8, mpStr16, mpStr32), s...)
}

func appendBin(dst []byte, b []byte) []byte {
	if b == nil {
		return append(dst, mpNil)
	}
	return append(appendLen(dst, len(b), 0, 0, mpBin8, mpBin16, mpBin32), b...)
}

// appendInt writes i as the codec does: the smallest signed form, a fixint
// from -32 to 127.
func appendInt(dst []byte, i int64) []byte {
	switch {
	case i > math.MaxInt8 && i <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(i))
	case i > math.MaxInt16 && i <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(i))
	case i > math.MaxInt32:
		return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(i))
	case i >= -32:
		return append(dst, byte(i))
	case i >= math.MinInt8:
		return append(dst, mpInt8, byte(i))
	case i >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(i))
	case i >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(i))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(i))
}

// EncodedSizeHint is a lower bound on the bytes Marshal writes for batch,
// counting only the checkpoint state it carries: a store that sees a large
// hint can size its buffers once instead of growing them.
func EncodedSizeHint(batch []Event) int {
	n := 0
	for _, ev := range batch {
		switch p := ev.Payload.(type) {
		case *LogCheckpoint:
			n += len(p.State)
		case *LogCheckpointPart:
			n += len(p.Data)
		}
	}
	return n
}
