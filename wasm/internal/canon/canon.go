// Package canon holds the CBOR modes of factlog's formats (events, batches,
// register states): RFC 8949 core deterministic encoding, so that one value
// has one encoding, and decoding that refuses indefinite lengths and
// duplicate keys and bounds what it allocates.
package canon

import "github.com/fxamacker/cbor/v2"

// Enc encodes with core deterministic encoding.
var Enc = must(cbor.CoreDetEncOptions().EncMode())

// Dec returns a strict decoding mode allowing arrays of up to maxArray
// elements.
func Dec(maxArray int) cbor.DecMode {
	return must(cbor.DecOptions{
		MaxNestedLevels:  4,
		MaxArrayElements: maxArray,
		MaxMapPairs:      16,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
	}.DecMode())
}

func must[T any](m T, err error) T {
	if err != nil {
		panic(err)
	}
	return m
}
