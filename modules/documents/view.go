package documents

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// ViewURL returns a signed link to a document's file, valid for at most 5 minutes (Options.LinkTTL), inline and
// not to be cached. The view is audited ("document.viewed": who, which document, whose) in the same transaction
// that reads the document, so no link is handed out without its audit row. An erased document has no file:
// ErrNotFound.
func (s *Service) ViewURL(ctx context.Context, t tenants.Tenant, id uuid.UUID, actor audit.Actor) (string, error) {
	l, err := s.view(ctx, t, id, nil, actor)
	return l.url, err
}

// ViewOwnURL is ViewURL for a trader: only a document of clientID; anyone else's is ErrNotFound.
func (s *Service) ViewOwnURL(ctx context.Context, t tenants.Tenant, clientID, id uuid.UUID, actor audit.Actor) (string, error) {
	l, err := s.view(ctx, t, id, &clientID, actor)
	return l.url, err
}

func (s *Service) view(ctx context.Context, t tenants.Tenant, id uuid.UUID, owner *uuid.UUID, actor audit.Actor) (link, error) {
	var l link
	err := s.o.Gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		d, err := s.GetTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if d.ErasedAt != nil || (owner != nil && d.ClientID != *owner) {
			return ErrNotFound
		}
		l.expires = s.o.Now().Add(s.o.LinkTTL).UTC()
		if l.url, err = s.o.Store.SignedURL(ctx, d.BlobKey, s.o.LinkTTL, d.FileName); err != nil {
			return fmt.Errorf("documents: sign a link to %s: %w", id, err)
		}
		return s.o.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionViewed, Target: target(id),
			After: map[string]any{"client_id": d.ClientID, "type": d.Type, "link_ttl_seconds": int(s.o.LinkTTL.Seconds())}})
	})
	return l, err
}
