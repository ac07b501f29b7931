// Package dxtrade is the trading.Connector for Devexperts DXtrade. It speaks two REST APIs of one DXtrade server:
// the register (admin) API under /dxweb/rest, where users, accounts, categories and money live, and the trading
// API under /dxsca-web, where account metrics, open positions and order history live.
//
// How DXtrade's model maps onto trading.Connector (docs/trading/dxtrade.md says the same for operators):
//   - Login is the DXtrade account code. CreateAccount registers one user per account whose user login equals the
//     account code, so a trader signs in with the login the CRM shows them.
//   - Leverage, swap-free and group are account categories: leverage is a category in the Margining domain
//     (Config.LeverageCategories maps 1:N to its name), swap-free is a category in the Financing domain, and the
//     CRM's "group" is the category in Config.GroupDomain (Trading unless configured otherwise).
//   - Access is the account status: FULL_TRADING, CLOSE_ONLY / NO_TRADING (trading off) and TERMINATED / EXPIRED
//     (login off). See accessOf and statusFor.
//   - Deposits and withdrawals are PUTs whose last path segment is the CRM's OperationID, so DXtrade itself refuses
//     a second movement with 409 and a retry is idempotent by construction. Credit has no such endpoint: the
//     connector sets the account's credit and records the OperationID in the account's metadata in the same
//     conditional update (If-Match), which gives the same at-most-once guarantee.
//   - Closed deals are the account's completed orders from the order history, one deal per completed order.
//
// Session tokens come from POST /login on each API and are shared by every concurrent caller; an expired or
// rejected token is replaced by exactly one new login, and the call that met it is retried once.
package dxtrade
