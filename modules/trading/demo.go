package trading

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// DemoAccount is a funded account the demo brokerage's simulated traders trade on.
type DemoAccount struct {
	Login, FirstName, LastName string
}

// DemoAccounts are the demo brokerage's trading accounts (the approved demo clients' first accounts).
var DemoAccounts = []DemoAccount{
	{"500001", "Hannah", "Schmidt"},
	{"500002", "Diego", "Fernandez"},
	{"500003", "Priya", "Sharma"},
	{"500004", "Tom", "Baker"},
	{"500005", "Eva", "Novak"},
	{"500006", "Mark", "Jensen"},
}

// OpenDemoAccounts opens each DemoAccounts entry on c in group with a 10,000 deposit, through the connector like
// any real account. It is safe to run at every start: requested logins make creation idempotent and the deposit
// carries a fixed operation id, so nothing is created or paid twice.
func OpenDemoAccounts(ctx context.Context, c Connector, group, currency string) error {
	for _, a := range DemoAccounts {
		pw, err := demoPassword()
		if err != nil {
			return err
		}
		_, err = c.CreateAccount(ctx, NewAccount{Login: a.Login, Group: group, Leverage: 100, Currency: currency,
			FirstName: a.FirstName, LastName: a.LastName, Email: a.Login + "@traders.demo",
			Password: pw, InvestorPassword: pw + "i", OperationID: "demo-open-" + a.Login})
		if err != nil && !errors.Is(err, ErrAlreadyExists) {
			return fmt.Errorf("open demo account %s: %w", a.Login, err)
		}
		if _, err := c.BalanceOperation(ctx, BalanceOp{Login: a.Login, Kind: Deposit, Amount: decimal.NewFromInt(10_000),
			OperationID: "demo-fund-" + a.Login, Comment: "demo funding"}); err != nil {
			return fmt.Errorf("fund demo account %s: %w", a.Login, err)
		}
	}
	return nil
}

// CountDeals counts the closed deals of the demo accounts since a time, paging through the connector.
func CountDeals(ctx context.Context, c Connector, logins []string, since time.Time) (int, error) {
	n := 0
	for _, login := range logins {
		q := DealQuery{Login: login, From: since, To: time.Now().UTC().Add(time.Minute), Limit: 500}
		for {
			page, err := c.ClosedDeals(ctx, q)
			if err != nil {
				return n, err
			}
			n += len(page.Deals)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	return n, nil
}

// demoPassword makes a strong throwaway password: demo traders are simulated and never sign in.
func demoPassword() (string, error) {
	b := make([]byte, 6) // 8 characters after encoding: with the prefix, within the 8-16 most platforms allow
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "Dm1!" + base64.RawURLEncoding.EncodeToString(b), nil
}
