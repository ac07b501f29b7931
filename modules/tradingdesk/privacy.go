package tradingdesk

import (
	"archive/zip"
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The desk is a holder of clients' personal data (frontdoor.DataHolder): a client's trading accounts, the requests
// they made of the platform, their transfers, and the deals of their accounts.
var _ frontdoor.DataHolder = (*Service)(nil)

// PersonalData names the desk's files in a client's export.
func (s *Service) PersonalData() []string {
	return []string{
		"trading_accounts.json   your trading accounts: server, type, login, currency, leverage, swap-free, status, and the balance and settings the trading server last reported",
		"trading_requests.json   what you asked of the trading servers (accounts, leverage, swap-free, passwords) and what became of it",
		"trading_transfers.json  the money you moved between your wallet and your trading accounts, and what became of it",
		"trading_credits.json    the credit (bonuses) booked on and taken off your trading accounts, and what became of it",
		"trading_deals.json      the deals of your trading accounts as the trading servers listed them",
	}
}

// exportedDeal is a deal of the client's account as the API shows it, with the account it belongs to.
type exportedDeal struct {
	Server string `json:"server"`
	Login  string `json:"login"`
	DealResponse
}

// ExportClient writes trading_accounts.json, trading_requests.json, trading_transfers.json, trading_credits.json and
// trading_deals.json. Deals are read for the
// client's accounts only (by server and login), every one of them however many: an export is the whole record.
func (s *Service) ExportClient(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, zw *zip.Writer) error {
	accounts, err := s.ClientAccounts(ctx, t, clientID)
	if err != nil {
		return err
	}
	requests, err := s.ClientRequests(ctx, t, clientID)
	if err != nil {
		return err
	}
	transfers, err := s.Transfers(ctx, t, TransferFilter{Client: clientID, Limit: -1})
	if err != nil {
		return err
	}
	credits, err := s.clientCredits(ctx, t, clientID)
	if err != nil {
		return err
	}
	// The API's shapes: the client's own record as staff read it (a failed request with the platform's reason).
	outAccounts := make([]AccountResponse, 0, len(accounts))
	for _, a := range accounts {
		outAccounts = append(outAccounts, ToAccountResponse(a))
	}
	outRequests := make([]RequestResponse, 0, len(requests))
	for _, r := range requests {
		outRequests = append(outRequests, ToRequestResponse(r, true))
	}
	deals := []exportedDeal{}
	for _, a := range accounts {
		var after *DealCursor
		for {
			page, err := s.AccountDeals(ctx, t, a, DealFilter{Kind: DealKindAll, Cancelled: true}, after, 1000)
			if err != nil {
				return fmt.Errorf("tradingdesk: export the deals of client %s: %w", clientID, err)
			}
			for _, d := range page {
				deals = append(deals, exportedDeal{Server: a.ServerName, Login: a.Login, DealResponse: ToDealResponse(d, a.Currency.Code)})
			}
			if len(page) < 1000 {
				break
			}
			last := page[len(page)-1]
			after = &DealCursor{Time: last.Time, Ticket: last.Ticket}
		}
	}
	now := s.o.Now()
	if err := frontdoor.ExportJSON(zw, "trading_accounts.json", outAccounts, now); err != nil {
		return err
	}
	if err := frontdoor.ExportJSON(zw, "trading_requests.json", outRequests, now); err != nil {
		return err
	}
	if err := frontdoor.ExportJSON(zw, "trading_transfers.json", toTransfers(transfers, true).Transfers, now); err != nil {
		return err
	}
	if err := frontdoor.ExportJSON(zw, "trading_credits.json", credits, now); err != nil {
		return err
	}
	return frontdoor.ExportJSON(zw, "trading_deals.json", deals, now)
}

// EraseClientTx keeps the client's trading accounts, requests, transfers and deals: they are the records of the client's
// trading that anti-money-laundering and financial-services law require a brokerage to keep (modules/privacy only
// erases once retention allows), and they hold no name, email or address of the client: the client's identity is
// erased by the clients module, and these rows then belong to an anonymous client. The credentials of an account
// were never stored (they went out in one email).
func (s *Service) EraseClientTx(context.Context, pgx.Tx, tenants.Tenant, uuid.UUID) error { return nil }
