package database

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// uuidCodec teaches pgx the project's id type, github.com/google/uuid.UUID, for Postgres's uuid columns.
//
// Without it pgx meets uuid.UUID as a driver.Valuer: each argument is formatted as text, refused by the binary
// encoder (an error built with fmt.Errorf on every query), then sent as text; and each uuid read back is formatted
// as a string by pgx and parsed again by uuid.UUID.Scan. With it an id travels as its 16 bytes both ways. Every
// other Go type (pgtype.UUID, [16]byte, strings) keeps pgx's own plans.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return encodeUUIDBinary{}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return scanUUIDBinary{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUIDBinary struct{}

func (encodeUUIDBinary) Encode(value any, buf []byte) ([]byte, error) {
	id := value.(uuid.UUID)
	return append(buf, id[:]...), nil
}

type scanUUIDBinary struct{}

// Scan reads a binary uuid. NULL gives the zero id, as uuid.UUID's own Scan leaves it; a nullable column that
// must tell NULL apart scans into *uuid.UUID through a pointer (nil for NULL), as before.
func (scanUUIDBinary) Scan(src []byte, dst any) error {
	id := dst.(*uuid.UUID)
	if src == nil {
		*id = uuid.UUID{}
		return nil
	}
	if len(src) != len(id) {
		return fmt.Errorf("uuid: %d bytes, want %d", len(src), len(id))
	}
	copy(id[:], src)
	return nil
}

// registerTypes runs on every new connection of a pool.
func registerTypes(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}})
}
