package task

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// maxCheckDepth is where CheckJSON stops descending: encoding/json refuses
// documents nested deeper than 10,000, so the decoder that follows reports
// those, and the walk's stack stays bounded whatever the body.
const maxCheckDepth = 10000

// CheckJSON reports why body, though it may be syntactically JSON, does not
// mean one thing: it holds bytes that are not UTF-8 (encoding/json would
// read them as U+FFFD while a RawMessage keeps them, so a stored payload
// would be echoed as invalid JSON), or an object names a key twice,
// anywhere — target, labels, payload — (encoding/json keeps the last, while
// another reader may take the first: a target naming "url" twice could be
// read as two different addresses). Keys are compared after unescaping, so
// "url" and "\u0075rl" are one key.
//
// The field names the place as a path below prefix (e.g. "tasks[3]."),
// such as "target.url" or "payload.items[2].id"; the whole body is "body"
// (or the prefix without its dot). A body that is not JSON at all returns
// nil: the caller's decoder reports it, as it always has.
//
// The walk is a json.Decoder token stream, which allocates for every
// token (about eight times the cost of json.Unmarshal on token-dense
// bodies; see BenchmarkCheckJSON). So a body is first screened by
// mayRepeat, a scan that allocates nothing; only a body it cannot clear is
// walked, to confirm and name the place.
func CheckJSON(body []byte, prefix string) *FieldError {
	if utf8.Valid(body) && !mayRepeat(body) {
		return nil
	}
	return walkJSON(body, prefix)
}

// walkJSON is CheckJSON without the screen.
func walkJSON(body []byte, prefix string) *FieldError {
	bad := -1
	if !utf8.Valid(body) {
		bad = firstInvalidUTF8(body)
	}
	w := walker{prefix: prefix}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			break // io.EOF, or a syntax error the caller's decoder reports
		}
		if bad >= 0 && dec.InputOffset() > int64(bad) {
			return &FieldError{Field: w.field(tok), Reason: "contains bytes that are not UTF-8 (at byte " + strconv.Itoa(bad) + ")"}
		}
		if fe := w.step(tok); fe != nil {
			return fe
		}
		if len(w.stack) > maxCheckDepth {
			break
		}
	}
	if bad >= 0 {
		return &FieldError{Field: w.root(), Reason: "contains bytes that are not UTF-8 (at byte " + strconv.Itoa(bad) + ")"}
	}
	return nil
}

// firstInvalidUTF8 is the offset of the first byte of b that does not
// begin a valid UTF-8 sequence.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// frame is one open object or array of the walk.
type frame struct {
	obj       bool
	expectKey bool                // obj: the next string token is a key
	key       string              // obj: the key of the value being read
	idx       int                 // array: the index of the value being read
	keys      []string            // obj: keys seen, while few
	set       map[string]struct{} // obj: keys seen, once many
}

// seen records k in f, reporting whether it was already there. A handful
// of keys is searched in a slice, so that small objects cost no map.
func (f *frame) seen(k string) bool {
	if f.set != nil {
		if _, ok := f.set[k]; ok {
			return true
		}
		f.set[k] = struct{}{}
		return false
	}
	for _, x := range f.keys {
		if x == k {
			return true
		}
	}
	f.keys = append(f.keys, k)
	if len(f.keys) > 16 {
		f.set = make(map[string]struct{}, 2*len(f.keys))
		for _, x := range f.keys {
			f.set[x] = struct{}{}
		}
		f.keys = nil
	}
	return false
}

// walker follows a token stream, knowing the path to each token.
type walker struct {
	prefix string
	stack  []frame
}

func (w *walker) root() string {
	if w.prefix == "" {
		return "body"
	}
	return w.prefix[:len(w.prefix)-1]
}

// path is the path of the value being read in the innermost open container
// (withKey: of key k, about to be read, instead).
func (w *walker) path(withKey bool, k string) string {
	var b []byte
	b = append(b, w.prefix...)
	n := len(w.stack)
	for i, f := range w.stack {
		last := i == n-1
		switch {
		case f.obj && last && withKey:
			b = appendKey(b, k, len(b) > len(w.prefix))
		case f.obj && (!last || !f.expectKey):
			b = appendKey(b, f.key, len(b) > len(w.prefix))
		case !f.obj && (!last || !withKey):
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(f.idx), 10)
			b = append(b, ']')
		}
	}
	if len(b) == len(w.prefix) {
		return w.root()
	}
	return string(b)
}

func appendKey(b []byte, k string, dot bool) []byte {
	if dot {
		b = append(b, '.')
	}
	return append(b, k...)
}

// field is where tok sits.
func (w *walker) field(tok json.Token) string {
	if n := len(w.stack); n > 0 {
		if f := &w.stack[n-1]; f.obj && f.expectKey {
			if k, ok := tok.(string); ok {
				return w.path(true, k)
			}
		}
	}
	return w.path(false, "")
}

// step takes one token: a key is checked against its object's other keys;
// a value moves its container on.
func (w *walker) step(tok json.Token) *FieldError {
	n := len(w.stack)
	if n > 0 {
		if f := &w.stack[n-1]; f.obj && f.expectKey {
			if k, ok := tok.(string); ok {
				if f.seen(k) {
					return &FieldError{Field: w.path(true, k), Reason: "is named twice in one object; a key may appear only once"}
				}
				f.key, f.expectKey = k, false
				return nil
			}
		}
	}
	switch tok {
	case json.Delim('{'):
		w.stack = append(w.stack, frame{obj: true, expectKey: true})
		return nil
	case json.Delim('['):
		w.stack = append(w.stack, frame{})
		return nil
	case json.Delim('}'), json.Delim(']'):
		w.stack = w.stack[:n-1]
	}
	w.valueDone()
	return nil
}

// valueDone moves the innermost container past the value just read.
func (w *walker) valueDone() {
	if n := len(w.stack); n > 0 {
		f := &w.stack[n-1]
		if f.obj {
			f.expectKey = true
		} else {
			f.idx++
		}
	}
}

// mayRepeat reports whether body, valid UTF-8, might name a key twice in
// one object: it does, or body is not well-formed JSON or is nested deeper
// than maxCheckDepth (the walk, and then the caller's decoder, sort those
// out). It compares keys by what they mean, decoding only those with an
// escape, and allocates for little else (objects of more than 16 keys).
func mayRepeat(body []byte) bool {
	type obj struct {
		isObj, expectKey bool
		keys             [][]byte
		set              map[string]struct{}
	}
	var stack []obj
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			if len(stack) >= maxCheckDepth {
				return true
			}
			if len(stack) < cap(stack) { // reuse this depth's key slice
				stack = stack[:len(stack)+1]
				f := &stack[len(stack)-1]
				f.isObj, f.expectKey, f.keys, f.set = c == '{', c == '{', f.keys[:0], nil
			} else {
				stack = append(stack, obj{isObj: c == '{', expectKey: c == '{'})
			}
		case '}', ']':
			if len(stack) == 0 || stack[len(stack)-1].isObj != (c == '}') {
				return true
			}
			stack = stack[:len(stack)-1]
		case ',':
			if n := len(stack); n > 0 && stack[n-1].isObj {
				stack[n-1].expectKey = true
			}
		case '"':
			start := i + 1
			escaped := false
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					escaped = true
					i++
				}
			}
			if i >= len(body) {
				return true
			}
			n := len(stack)
			if n == 0 || !stack[n-1].isObj || !stack[n-1].expectKey {
				continue
			}
			f := &stack[n-1]
			f.expectKey = false
			k := body[start:i]
			if escaped {
				// Compare what the key means: "\u0075rl" is "url". Only
				// escaped keys pay for decoding; an unescaped key's bytes
				// are its value, as body is valid UTF-8.
				var s string
				if json.Unmarshal(body[start-1:i+1], &s) != nil {
					return true
				}
				k = []byte(s)
			}
			if f.set != nil {
				if _, ok := f.set[string(k)]; ok {
					return true
				}
				f.set[string(k)] = struct{}{}
				continue
			}
			for _, x := range f.keys {
				if bytes.Equal(x, k) {
					return true
				}
			}
			f.keys = append(f.keys, k)
			if len(f.keys) > 16 {
				f.set = make(map[string]struct{}, 2*len(f.keys))
				for _, x := range f.keys {
					f.set[string(x)] = struct{}{}
				}
			}
		}
	}
	return len(stack) != 0
}
