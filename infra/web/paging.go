package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// Paging bounds: a list endpoint answers DefaultPageLimit items unless asked for up to MaxPageLimit.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Paged is the envelope of every list endpoint: the items and, unless this is the last page, the cursor of the
// next one (pass it back as ?cursor=).
type Paged[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// ErrBadCursor is returned for a cursor that Cursors did not make (or made with another key or version).
var ErrBadCursor = errors.New("invalid cursor")

// Cursors makes and reads page cursors: opaque to clients, so the sort keys inside may change, and signed, so a
// client cannot forge a position. A cursor is base64url(version || JSON of the sort keys || HMAC-SHA256[:16]).
// Tampering buys nothing a client could not get by paging (every query is scoped and authorised anyway), but
// opacity keeps clients from depending on the encoding.
type Cursors struct {
	key []byte
}

const (
	cursorVersion = 1
	cursorMACLen  = 16
	// maxCursorLen bounds what is decoded at all; sort keys are a few short values.
	maxCursorLen = 1024
)

// NewCursors returns a codec signing with key (at least 32 bytes, the same on every replica: derive it from a
// secret of the deployment).
func NewCursors(key []byte) *Cursors { return &Cursors{key: append([]byte(nil), key...)} }

func (cc *Cursors) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, cc.key)
	m.Write(payload)
	return m.Sum(nil)[:cursorMACLen]
}

// Encode returns the cursor for the sort keys v (any JSON-encodable value, typically a small struct).
func (cc *Cursors) Encode(v any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := append([]byte{cursorVersion}, body...)
	return base64.RawURLEncoding.EncodeToString(append(payload, cc.mac(payload)...)), nil
}

// Decode checks s and reads its sort keys into v (a pointer); any fault is ErrBadCursor.
func (cc *Cursors) Decode(s string, v any) error {
	if len(s) == 0 || len(s) > maxCursorLen {
		return ErrBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 1+cursorMACLen || raw[0] != cursorVersion {
		return ErrBadCursor
	}
	payload, sum := raw[:len(raw)-cursorMACLen], raw[len(raw)-cursorMACLen:]
	if !hmac.Equal(sum, cc.mac(payload)) {
		return ErrBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(payload[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return ErrBadCursor
	}
	return nil
}

// PageQuery reads ?limit= and ?cursor= of a list request, decoding the cursor's sort keys into after (a pointer;
// left untouched on the first page). first is true when no cursor was given. Bad values answer 422 naming the
// field.
func (cc *Cursors) PageQuery(c *fiber.Ctx, after any) (limit int, first bool, err error) {
	var fields Fields
	limit = DefaultPageLimit
	if s := c.Query("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > MaxPageLimit {
			fields.Add("limit", "must be a whole number from 1 to "+strconv.Itoa(MaxPageLimit))
		} else {
			limit = n
		}
	}
	cursor := c.Query("cursor")
	if len(cursor) > maxCursorLen {
		p := NewProblem(fiber.StatusBadRequest, "invalid-query", "The cursor is longer than any cursor this API gives out.")
		p.Errors = []FieldError{{Field: "cursor", Message: "must be at most " + strconv.Itoa(maxCursorLen) + " characters"}}
		return 0, false, p
	}
	if cursor != "" && cc.Decode(cursor, after) != nil {
		fields.Add("cursor", "is not a cursor this endpoint gave out; start again without one")
	}
	if err := fields.Err(); err != nil {
		return 0, false, fieldsErr(err)
	}
	return limit, cursor == "", nil
}

// MakePaged builds the envelope from up to limit+1 rows fetched in order (one more than limit tells there is a
// next page): the extra row is dropped and the cursor made from the sort keys key(last row shown).
func MakePaged[T any](cc *Cursors, rows []T, limit int, key func(T) any) (Paged[T], error) {
	p := Paged[T]{Items: rows}
	if p.Items == nil {
		p.Items = []T{}
	}
	if len(rows) > limit {
		p.Items = rows[:limit]
		next, err := cc.Encode(key(rows[limit-1]))
		if err != nil {
			return Paged[T]{}, err
		}
		p.NextCursor = &next
	}
	return p, nil
}
