package main

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/modules/kyc"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// clientDocuments lists a client's documents for the client page (clients.DocumentLister): the documents module's
// records, adapted here so neither module imports the other, with rejection reasons in the KYC review's words.
func (a *app) clientDocuments(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]clients.DocumentRow, error) {
	docs, err := a.documents.ClientDocuments(ctx, t, clientID)
	if err != nil {
		return nil, err
	}
	out := make([]clients.DocumentRow, len(docs))
	for i, d := range docs {
		reason := d.ReasonCode
		if r, ok := kyc.ReasonFor(kyc.ReasonCode(d.ReasonCode)); ok {
			reason = r.Label // the officer's words for the code
		}
		reason = strings.TrimSpace(reason + " " + d.Message)
		out[i] = clients.DocumentRow{ID: d.ID, Type: string(d.Type), Status: string(d.Status), FileName: d.FileName,
			UploadedAt: d.UploadedAt, ExpiresOn: d.ExpiresOn, Reason: reason, Duplicate: d.Flagged()}
	}
	return out, nil
}
