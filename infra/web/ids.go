package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// ErrNotCanonicalID is an id in a form other than the canonical one.
var ErrNotCanonicalID = errors.New("not a canonical id")

// ParseUUID reads an id in its one canonical form, 36 characters of lower-case hex with hyphens
// ("0190a3b4-7d1c-7f00-8000-000000000001"). uuid.Parse also takes upper case, braces, "urn:uuid:" and the form
// without hyphens; accepting those would let one object answer under several URLs, and ids in logs, audit rows and
// caches would stop matching.
func ParseUUID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, ErrNotCanonicalID
	}
	id, err := uuid.Parse(s)
	if err != nil || id.String() != s {
		return uuid.Nil, ErrNotCanonicalID
	}
	return id, nil
}

// ParseID reads the path parameter name as a canonical id (ParseUUID). Handlers answer 404 when it is not one, as
// for an id that names nothing.
func ParseID(c *fiber.Ctx, name string) (uuid.UUID, error) { return ParseUUID(c.Params(name)) }
