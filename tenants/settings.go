package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The settings table (tenant migration 0001) holds each module's tenant-wide settings as one JSON value under the
// module's own key ("onboarding", "kyc", "documents", "privacy", ...). A module reads and writes only its key, and
// only through these two functions, so the table has one way in and out.

// LoadSetting reads the setting under key, in tx (a tenant scope), into dst, which the caller fills with its
// defaults first: fields the stored value lacks keep them, and a key never saved leaves dst untouched and reports
// false.
func LoadSetting(ctx context.Context, tx pgx.Tx, key string, dst any) (bool, error) {
	var raw []byte
	return decodeSetting(key, tx.QueryRow(ctx, settingSQL, key).Scan(&raw), raw, dst)
}

// LoadSetting is tenants.LoadSetting outside a transaction, in one round trip (ReadRow): for a request that only
// reads the settings.
func (g *Gate) LoadSetting(ctx context.Context, t Tenant, key string, dst any) (bool, error) {
	var raw []byte
	return decodeSetting(key, g.ReadRow(ctx, t, settingSQL, []any{key}, &raw), raw, dst)
}

// SettingOr is LoadSetting for a module whose settings overlay its defaults: it returns the stored value decoded
// over a fresh defaults() (fields the stored value lacks keep theirs), or defaults() when the key was never saved.
// On an error it returns a fresh defaults() and the error (the value being decoded may hold part of the stored one).
func SettingOr[T any](ctx context.Context, tx pgx.Tx, key string, defaults func() T) (T, error) {
	st := defaults()
	if _, err := LoadSetting(ctx, tx, key, &st); err != nil {
		return defaults(), err
	}
	return st, nil
}

// ReadSettingOr is SettingOr outside a transaction, in one round trip (Gate.LoadSetting).
func ReadSettingOr[T any](ctx context.Context, g *Gate, t Tenant, key string, defaults func() T) (T, error) {
	st := defaults()
	if _, err := g.LoadSetting(ctx, t, key, &st); err != nil {
		return defaults(), err
	}
	return st, nil
}

const settingSQL = `SELECT value FROM settings WHERE key = $1`

func decodeSetting(key string, err error, raw []byte, dst any) (bool, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s settings: %w", key, err)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return false, fmt.Errorf("%s settings: stored value: %w", key, err)
	}
	return true, nil
}

// SaveSetting stores v (as JSON) under key, in tx, replacing what was there.
func SaveSetting(ctx context.Context, tx pgx.Tx, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s settings: %w", key, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, key, raw); err != nil {
		return fmt.Errorf("%s settings: save: %w", key, err)
	}
	return nil
}
