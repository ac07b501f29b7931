package identity

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/auth"
	"github.com/brokerdesk/brokerdesk/modules/staff"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// DemoPassword is the password of every demo staff user (`make run` prints it). Never used outside the demo.
const DemoPassword = "Demo-Brokerdesk-2026!"

// DemoTraderEmail is the demo brokerage's portal login (password DemoPassword), so the portal pages can be tried.
func DemoTraderEmail(t tenants.Tenant) string { return "trader@" + t.Slug + ".demo" }

// DemoIBEmail is the demo brokerage's introducing broker's portal login (password DemoPassword): the client behind
// the demo's top partner (IB-ATLAS), so the partner area (/portal/partner) can be tried.
func DemoIBEmail(t tenants.Tenant) string { return "ib@" + t.Slug + ".demo" }

// DemoSeeder gives every staff.DemoStaff user a password (DemoPassword) and adds the demo trader's portal login
// (DemoTraderEmail); run it after staff.DemoSeeder. Hashes use
// the real parameters: eight hashes cost under a second once per fresh demo, and users who already have a password
// keep it, so a restart costs nothing.
type DemoSeeder struct{ Hasher *auth.Hasher }

// Seed sets the missing demo passwords. It implements tenants.Seeder (idempotent). A nil Hasher hashes with
// auth.DefaultParams.
func (d DemoSeeder) Seed(ctx context.Context, tx pgx.Tx, t tenants.Tenant) error {
	if d.Hasher == nil {
		h, err := auth.NewHasher(auth.DefaultParams(), 1)
		if err != nil {
			return err
		}
		d.Hasher = h
	}
	for _, m := range staff.DemoStaff(t) {
		u, err := staff.ByEmail(ctx, tx, m.Email)
		if errors.Is(err, staff.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM staff_credentials WHERE staff_user_id = $1)`, u.ID).Scan(&has); err != nil {
			return err
		}
		if has {
			continue
		}
		hash, err := d.Hasher.Hash(ctx, DemoPassword)
		if err != nil {
			return err
		}
		if err := setPassword(ctx, tx, Staff, u.ID, hash); err != nil {
			return err
		}
	}
	for _, email := range []string{DemoTraderEmail(t), DemoIBEmail(t)} {
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM portal_users WHERE email = $1)`, email).Scan(&has); err != nil {
			return err
		}
		if has {
			continue
		}
		hash, err := d.Hasher.Hash(ctx, DemoPassword)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO portal_users (id, email, password_hash) VALUES ($1, $2, $3)`, uuid.New(), email, hash); err != nil {
			return err
		}
	}
	return nil
}
