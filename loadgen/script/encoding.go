package script

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"

	"github.com/dop251/goja"
)

// encodingModule is k6/encoding
// (https://grafana.com/docs/k6/latest/javascript-api/k6-encoding/):
// b64encode(input, encoding?) and b64decode(input, encoding?, format?),
// with encoding std (default), rawstd, url or rawurl.
func (vu *VU) encodingModule() *goja.Object {
	rt := vu.rt
	m := rt.NewObject()
	_ = m.Set("b64encode", func(input goja.Value, enc goja.Value) string {
		return vu.b64(enc, "b64encode").EncodeToString(vu.bytesOf(input, "b64encode"))
	})
	_ = m.Set("b64decode", func(input string, enc goja.Value, format goja.Value) goja.Value {
		b, err := vu.b64(enc, "b64decode").DecodeString(input)
		if err != nil {
			panic(rt.NewGoError(fmt.Errorf("b64decode: %w", err)))
		}
		if !isNil(format) && format.String() == "s" {
			return rt.ToValue(string(b))
		}
		return rt.ToValue(rt.NewArrayBuffer(b))
	})
	return m
}

func (vu *VU) b64(enc goja.Value, fn string) *base64.Encoding {
	name := "std"
	if !isNil(enc) {
		name = enc.String()
	}
	switch name {
	case "std":
		return base64.StdEncoding
	case "rawstd":
		return base64.RawStdEncoding
	case "url":
		return base64.URLEncoding
	case "rawurl":
		return base64.RawURLEncoding
	}
	panic(vu.rt.NewTypeError(fmt.Sprintf("%s: encoding %q: want std, rawstd, url or rawurl", fn, name)))
}

// bytesOf is a string's UTF-8 bytes, or an ArrayBuffer's or typed array's.
func (vu *VU) bytesOf(v goja.Value, fn string) []byte {
	switch x := v.Export().(type) {
	case string:
		return []byte(x)
	case goja.ArrayBuffer:
		return x.Bytes()
	case []byte:
		return x
	}
	if o, ok := v.(*goja.Object); ok {
		if buf, ok := o.Get("buffer").Export().(goja.ArrayBuffer); ok { // a typed array
			off, n := o.Get("byteOffset").ToInteger(), o.Get("byteLength").ToInteger()
			return buf.Bytes()[off : off+n]
		}
	}
	panic(vu.rt.NewTypeError(fmt.Sprintf("%s: want a string or an ArrayBuffer, got %v", fn, v)))
}

// hashes are k6/crypto's algorithms that the standard library has; md4
// and ripemd160 are not offered.
var hashes = map[string]func() hash.Hash{
	"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha384": sha512.New384,
	"sha512": sha512.New, "sha512_224": sha512.New512_224, "sha512_256": sha512.New512_256,
}

// cryptoModule is k6/crypto
// (https://grafana.com/docs/k6/latest/javascript-api/k6-crypto/): md5,
// sha1, sha256, sha384, sha512, sha512_224 and sha512_256 as functions,
// hmac, createHash, createHMAC and randomBytes; outputs hex, base64,
// base64url, base64rawurl or binary (an ArrayBuffer).
func (vu *VU) cryptoModule() *goja.Object {
	rt := vu.rt
	m := rt.NewObject()
	newHash := func(alg, fn string) hash.Hash {
		h, ok := hashes[alg]
		if !ok {
			panic(rt.NewTypeError(fmt.Sprintf("%s: algorithm %q: want one of %s", fn, alg, strings.Join(algorithms(), ", "))))
		}
		return h()
	}
	for alg := range hashes {
		_ = m.Set(alg, func(input goja.Value, out string) goja.Value {
			h := newHash(alg, alg)
			h.Write(vu.bytesOf(input, alg))
			return vu.digest(h.Sum(nil), out, alg)
		})
	}
	_ = m.Set("hmac", func(alg string, secret, data goja.Value, out string) goja.Value {
		newHash(alg, "hmac")
		mac := hmac.New(hashes[alg], vu.bytesOf(secret, "hmac"))
		mac.Write(vu.bytesOf(data, "hmac"))
		return vu.digest(mac.Sum(nil), out, "hmac")
	})
	hasher := func(h hash.Hash, fn string) *goja.Object {
		o := rt.NewObject()
		_ = o.Set("update", func(input goja.Value) { h.Write(vu.bytesOf(input, fn+".update")) })
		_ = o.Set("digest", func(out string) goja.Value { return vu.digest(h.Sum(nil), out, fn+".digest") })
		return o
	}
	_ = m.Set("createHash", func(alg string) *goja.Object { return hasher(newHash(alg, "createHash"), "createHash") })
	_ = m.Set("createHMAC", func(alg string, secret goja.Value) *goja.Object {
		newHash(alg, "createHMAC")
		return hasher(hmac.New(hashes[alg], vu.bytesOf(secret, "createHMAC")), "createHMAC")
	})
	_ = m.Set("randomBytes", func(n int) goja.Value {
		if n < 0 || n > 1<<20 {
			panic(rt.NewTypeError(fmt.Sprintf("randomBytes(%d): want 0 to 1048576", n)))
		}
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return rt.ToValue(rt.NewArrayBuffer(b))
	})
	return m
}

func algorithms() []string {
	var out []string
	for a := range hashes {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// digest encodes a hash as k6/crypto's outputEncoding says.
func (vu *VU) digest(sum []byte, out, fn string) goja.Value {
	switch out {
	case "hex":
		return vu.rt.ToValue(hex.EncodeToString(sum))
	case "base64":
		return vu.rt.ToValue(base64.StdEncoding.EncodeToString(sum))
	case "base64url":
		return vu.rt.ToValue(base64.URLEncoding.EncodeToString(sum))
	case "base64rawurl":
		return vu.rt.ToValue(base64.RawURLEncoding.EncodeToString(sum))
	case "binary":
		return vu.rt.ToValue(vu.rt.NewArrayBuffer(sum))
	}
	panic(vu.rt.NewTypeError(fmt.Sprintf("%s: output encoding %q: want hex, base64, base64url, base64rawurl or binary", fn, out)))
}
