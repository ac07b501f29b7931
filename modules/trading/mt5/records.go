package mt5

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/wirejson"
)

// Records as the Web API sends them. Only the fields BrokerDesk uses are read; the user record also keeps its raw
// JSON so that an update can send back every field it did not mean to change.

type userRecord struct {
	Login     uint64
	Group     string
	Name      string
	FirstName string
	LastName  string
	Email     string
	Leverage  int64
	Rights    uint64
	raw       []byte
}

// MT5 user rights bits (IMTUser::EnUsersRights).
const (
	rightEnabled       uint64 = 0x1 // may log in
	rightPassword      uint64 = 0x2 // may change password
	rightTradeDisabled uint64 = 0x4 // trading disabled
)

func parseUser(obj []byte) (userRecord, error) {
	u := userRecord{raw: obj}
	err := forEachField(obj, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "Login":
			u.Login, err = uintOf(val)
		case "Group":
			u.Group, err = textOf(val)
		case "Name":
			u.Name, err = textOf(val)
		case "FirstName":
			u.FirstName, err = textOf(val)
		case "LastName":
			u.LastName, err = textOf(val)
		case "Email":
			u.Email, err = textOf(val)
		case "Leverage":
			u.Leverage, err = intOf(val)
		case "Rights":
			u.Rights, err = uintOf(val)
		}
		if err != nil {
			return fmt.Errorf("user field %s: %w", key, err)
		}
		return nil
	})
	if err == nil && u.Login == 0 {
		err = fmt.Errorf("%w: user record without Login", errMalformed)
	}
	return u, err
}

type accountRecord struct {
	Login      uint64
	Balance    decimal.Decimal
	Credit     decimal.Decimal
	Equity     decimal.Decimal
	Margin     decimal.Decimal
	MarginFree decimal.Decimal
}

func parseAccount(obj []byte) (accountRecord, error) {
	var a accountRecord
	err := forEachField(obj, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "Login":
			a.Login, err = uintOf(val)
		case "Balance":
			a.Balance, err = decimalOf(val)
		case "Credit":
			a.Credit, err = decimalOf(val)
		case "Equity":
			a.Equity, err = decimalOf(val)
		case "Margin":
			a.Margin, err = decimalOf(val)
		case "MarginFree":
			a.MarginFree, err = decimalOf(val)
		}
		if err != nil {
			return fmt.Errorf("account field %s: %w", key, err)
		}
		return nil
	})
	return a, err
}

type groupRecord struct {
	Group    string
	Currency string
}

func parseGroup(obj []byte) (groupRecord, error) {
	var g groupRecord
	err := forEachField(obj, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "Group":
			g.Group, err = textOf(val)
		case "Currency":
			g.Currency, err = textOf(val)
		}
		if err != nil {
			return fmt.Errorf("group field %s: %w", key, err)
		}
		return nil
	})
	if err == nil && g.Currency == "" {
		err = fmt.Errorf("%w: group record without Currency", errMalformed)
	}
	return g, err
}

// serverClock converts between UTC and the trade server's wall clock. MT5 keeps times as "local seconds": the
// server's wall-clock reading counted as if it were UTC, with no zone attached. With a zone (Config.TimeZone) the
// offset is the zone's own at each instant, so times on both sides of a daylight-saving change convert exactly;
// without one it is the single offset the server reports now (local = UTC + offset).
type serverClock struct {
	// offset is the offset from UTC without a zone; with one, it is added to the zone's (Config.TimeZoneShift).
	offset time.Duration
	zone   *time.Location
}

// maxZoneOffset bounds every zone's offset from UTC (Kiribati is 14 hours ahead; no zone is further behind).
const maxZoneOffset = 14 * time.Hour

// maxZoneChanges bounds the offset changes a window is searched for: a century of twice-yearly changes.
const maxZoneChanges = 200

func (c serverClock) offsetAt(t time.Time) time.Duration {
	if c.zone == nil {
		return c.offset
	}
	_, secs := t.In(c.zone).Zone()
	return time.Duration(secs)*time.Second + c.offset
}

// instant is the UTC instant at which the server's wall clock read wall (a reading written as if it were UTC).
// Where the zone changes its offset a reading can occur twice (clocks going back repeat an hour: the earlier
// instant is taken, since nothing in the reading tells the two apart) or never (clocks going forward skip an hour:
// the reading is taken with the offset from before the change).
func (c serverClock) instant(wall time.Time) time.Time {
	if c.zone == nil {
		return wall.Add(-c.offset).UTC()
	}
	// The instant lies within maxZoneOffset of the reading, so the offsets in force there are the candidates.
	before := c.offsetAt(wall.Add(-maxZoneOffset))
	var best time.Time
	found := false
	for _, off := range [...]time.Duration{before, c.offsetAt(wall), c.offsetAt(wall.Add(maxZoneOffset))} {
		if t := wall.Add(-off); c.offsetAt(t) == off && (!found || t.Before(best)) {
			best, found = t, true
		}
	}
	if !found {
		best = wall.Add(-before)
	}
	return best.UTC()
}

func (c serverClock) toUTC(localSec int64) time.Time {
	return c.instant(time.Unix(localSec, 0))
}

func (c serverClock) toUTCMilli(localMsc int64) time.Time {
	return c.instant(time.UnixMilli(localMsc))
}

// toLocal gives the server-local second that contains t (floor).
func (c serverClock) toLocal(t time.Time) int64 {
	return t.Add(c.offsetAt(t)).Unix()
}

// window gives the server-local seconds [first, last], both inclusive as the Web API reads from and to, that hold
// every instant of [from, to). Where the offset changes inside the window local readings are out of order (going
// back repeats an hour), so each stretch of one offset is widened into the window on its own; the caller drops
// what falls outside [from, to) once it knows the deals' instants.
func (c serverClock) window(from, to time.Time) (first, last int64) {
	lo, hi := from.Add(c.offsetAt(from)), to.Add(c.offsetAt(from))
	if c.zone != nil {
		for start, n := from, 0; ; n++ {
			off := c.offsetAt(start)
			_, change := start.In(c.zone).ZoneBounds()
			end := to
			if !change.IsZero() && change.Before(to) {
				end = change
			}
			if r := start.Add(off); n == 0 || r.Before(lo) {
				lo = r
			}
			if r := end.Add(off); n == 0 || r.After(hi) {
				hi = r
			}
			if end.Equal(to) {
				break
			}
			if n == maxZoneChanges {
				lo, hi = from.Add(-maxZoneOffset), to.Add(maxZoneOffset)
				break
			}
			start = end
		}
	}
	// hi is exclusive: its own second holds an instant of the window only when hi falls inside it.
	last = hi.Unix()
	if hi.Nanosecond() == 0 {
		last--
	}
	return lo.Unix(), last
}

// wallLayout is how the Web API writes a wall-clock reading.
const wallLayout = "2006.01.02 15:04:05"

// parseServerTime reads /api/time/server: {"Time":"1572518788 2019.10.31 10:46:28"} as documented (a lower-case
// "time", or the bare string, as some builds answer, are accepted too) and returns the server's wall-clock reading
// written as if it were UTC. Both halves are that same reading, the first in seconds, so the answer says nothing
// about the server's offset from UTC: that comes from the TimeZone setting or /api/time/get, and this answer only
// checks it.
func parseServerTime(answer []byte) (time.Time, error) {
	var s string
	var err error
	if len(answer) > 0 && answer[0] == '{' {
		found := false
		err = forEachField(answer, func(key, val []byte) error {
			if string(key) == "Time" || (string(key) == "time" && !found) {
				found = true
				s, err = textOf(val)
				return err
			}
			return nil
		})
		if err == nil && !found {
			err = fmt.Errorf("%w: server time answer without Time", errMalformed)
		}
	} else {
		s, err = textOf(answer)
	}
	if err != nil {
		return time.Time{}, err
	}
	secsText, wallText, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return time.Time{}, fmt.Errorf("%w: server time %.60q", errMalformed, s)
	}
	if secs, err := strconv.ParseInt(secsText, 10, 64); err != nil || secs < 0 || secs > 1<<40 {
		return time.Time{}, fmt.Errorf("%w: server time %.60q", errMalformed, s)
	}
	wall, err := time.Parse(wallLayout, strings.TrimSpace(wallText))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: server wall clock %.60q", errMalformed, s)
	}
	return wall, nil
}

// parseTimeConfig reads the offset from /api/time/get, the server's time configuration (IMTConTime): TimeZone is
// the zone's offset from UTC in minutes, and DaylightState is set while daylight saving puts the clock an hour
// ahead of it (that TimeZone leaves the daylight hour out is inferred from the separate state; the clock check
// against /api/time/server reports a server where it does not). Daylight, whether the server follows daylight
// saving at all, adds nothing the state does not say.
func parseTimeConfig(answer []byte) (time.Duration, error) {
	var zone, daylight int64
	found := false
	err := forEachField(answer, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "TimeZone":
			found = true
			zone, err = intOf(val)
		case "DaylightState":
			daylight, err = intOf(val)
		}
		if err != nil {
			return fmt.Errorf("time config field %s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%w: time config without TimeZone", errMalformed)
	}
	if zone < -int64(maxZoneOffset/time.Minute) || zone > int64(maxZoneOffset/time.Minute) {
		return 0, fmt.Errorf("%w: TimeZone of %d minutes from UTC", errMalformed, zone)
	}
	offset := time.Duration(zone) * time.Minute
	if daylight != 0 {
		offset += time.Hour
	}
	if offset > maxZoneOffset {
		return 0, fmt.Errorf("%w: TimeZone of %d minutes from UTC with daylight saving", errMalformed, zone)
	}
	return offset, nil
}

// dealRecord is one IMTDeal as the Web API sends it; times are server-local.
type dealRecord struct {
	Ticket       uint64
	Login        uint64
	Order        uint64
	PositionID   uint64
	Action       int64
	Entry        int64
	Time         int64
	TimeMsc      int64
	Symbol       string
	Comment      string
	Volume       int64
	VolumeExt    int64
	hasVolumeExt bool
	Price        decimal.Decimal
	Profit       decimal.Decimal
	Commission   decimal.Decimal
	Storage      decimal.Decimal
}

func parseDeal(obj []byte) (dealRecord, error) {
	r := wirejson.NewReader(obj)
	d, err := readDeal(r)
	if err == nil {
		err = malformed(r.End())
	}
	return d, err
}

// readDeal reads the deal record r is at.
func readDeal(r *wirejson.Reader) (dealRecord, error) {
	var d dealRecord
	err := eachField(r, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "Deal":
			d.Ticket, err = uintOf(val)
		case "Login":
			d.Login, err = uintOf(val)
		case "Order":
			d.Order, err = uintOf(val)
		case "PositionID":
			d.PositionID, err = uintOf(val)
		case "Action":
			d.Action, err = intOf(val)
		case "Entry":
			d.Entry, err = intOf(val)
		case "Time":
			d.Time, err = intOf(val)
		case "TimeMsc":
			d.TimeMsc, err = intOf(val)
		case "Symbol":
			d.Symbol, err = textOf(val)
		case "Comment":
			d.Comment, err = textOf(val)
		case "Volume":
			d.Volume, err = intOf(val)
		case "VolumeExt":
			d.VolumeExt, err = intOf(val)
			d.hasVolumeExt = string(val) != "null"
		case "Price":
			d.Price, err = decimalOf(val)
		case "Profit":
			d.Profit, err = decimalOf(val)
		case "Commission":
			d.Commission, err = decimalOf(val)
		case "Storage":
			d.Storage, err = decimalOf(val)
		}
		if err != nil {
			return fmt.Errorf("deal field %s: %w", key, err)
		}
		return nil
	})
	if err == nil && d.Ticket == 0 {
		err = fmt.Errorf("%w: deal record without Deal", errMalformed)
	}
	return d, err
}

// lots turns MT5 volume into lots: VolumeExt is in 1/10^8 lot and is exact for fractional lots that Volume
// (1/10,000 lot) cannot carry, so it wins whenever the server sends it.
func lots(volume, volumeExt int64, hasExt bool) decimal.Decimal {
	if hasExt {
		return decimal.New(volumeExt, -8)
	}
	return decimal.New(volume, -4)
}

// at is the deal's instant in UTC; TimeMsc carries the milliseconds that Time drops.
func (d dealRecord) at(c serverClock) time.Time {
	if d.TimeMsc != 0 {
		return c.toUTCMilli(d.TimeMsc)
	}
	return c.toUTC(d.Time)
}

func (d dealRecord) toDeal(c serverClock) trading.Deal {
	out := trading.Deal{
		Ticket:     strconv.FormatUint(d.Ticket, 10),
		Login:      strconv.FormatUint(d.Login, 10),
		Action:     dealAction(d.Action),
		Symbol:     d.Symbol,
		Volume:     lots(d.Volume, d.VolumeExt, d.hasVolumeExt),
		Price:      d.Price,
		Profit:     d.Profit,
		Commission: d.Commission,
		Swap:       d.Storage,
		Time:       d.at(c),
		Comment:    d.Comment,
	}
	if d.Order != 0 {
		out.Order = strconv.FormatUint(d.Order, 10)
	}
	if d.PositionID != 0 {
		out.PositionID = strconv.FormatUint(d.PositionID, 10)
	}
	if d.Action == dealBuy || d.Action == dealSell {
		out.Entry = dealEntry(d.Entry)
	}
	return out
}

// IMTDeal::EnDealAction values BrokerDesk distinguishes.
const (
	dealBuy     int64 = 0
	dealSell    int64 = 1
	dealBalance int64 = 2
	dealCredit  int64 = 3
)

func dealAction(a int64) trading.DealAction {
	switch a {
	case 0:
		return trading.ActionBuy
	case 1:
		return trading.ActionSell
	case 2:
		return trading.ActionBalance
	case 3:
		return trading.ActionCredit
	case 4:
		return trading.ActionCharge
	case 5:
		return trading.ActionCorrection
	case 6:
		return trading.ActionBonus
	case 7, 8, 9: // commission, daily, monthly
		return trading.ActionCommission
	case 10, 11, 18: // agent daily, agent monthly, agent
		return trading.ActionAgent
	default:
		return trading.ActionOther
	}
}

func dealEntry(e int64) trading.DealEntry {
	switch e {
	case 0:
		return trading.EntryIn
	case 1:
		return trading.EntryOut
	case 2:
		return trading.EntryInOut
	case 3:
		return trading.EntryOutBy
	default:
		return trading.EntryNone
	}
}

// parseDeals reads an array of deal records.
func parseDeals(arr []byte) ([]dealRecord, error) {
	deals := make([]dealRecord, 0, 100)
	err := forEachElement(arr, func(r *wirejson.Reader) error {
		d, err := readDeal(r)
		if err != nil {
			return err
		}
		deals = append(deals, d)
		return nil
	})
	return deals, err
}

type positionRecord struct {
	Position      uint64
	Login         uint64
	Symbol        string
	Action        int64
	TimeCreate    int64
	TimeCreateMsc int64
	PriceOpen     decimal.Decimal
	Volume        int64
	VolumeExt     int64
	hasVolumeExt  bool
	Profit        decimal.Decimal
	Storage       decimal.Decimal
}

func readPosition(r *wirejson.Reader) (positionRecord, error) {
	var p positionRecord
	err := eachField(r, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "Position":
			p.Position, err = uintOf(val)
		case "Login":
			p.Login, err = uintOf(val)
		case "Symbol":
			p.Symbol, err = textOf(val)
		case "Action":
			p.Action, err = intOf(val)
		case "TimeCreate":
			p.TimeCreate, err = intOf(val)
		case "TimeCreateMsc":
			p.TimeCreateMsc, err = intOf(val)
		case "PriceOpen":
			p.PriceOpen, err = decimalOf(val)
		case "Volume":
			p.Volume, err = intOf(val)
		case "VolumeExt":
			p.VolumeExt, err = intOf(val)
			p.hasVolumeExt = string(val) != "null"
		case "Profit":
			p.Profit, err = decimalOf(val)
		case "Storage":
			p.Storage, err = decimalOf(val)
		}
		if err != nil {
			return fmt.Errorf("position field %s: %w", key, err)
		}
		return nil
	})
	if err == nil && p.Position == 0 {
		err = fmt.Errorf("%w: position record without Position", errMalformed)
	}
	return p, err
}

func (p positionRecord) toPosition(c serverClock) trading.Position {
	side := trading.Buy
	if p.Action == 1 {
		side = trading.Sell
	}
	open := c.toUTC(p.TimeCreate)
	if p.TimeCreateMsc != 0 {
		open = c.toUTCMilli(p.TimeCreateMsc)
	}
	return trading.Position{
		ID:        strconv.FormatUint(p.Position, 10),
		Login:     strconv.FormatUint(p.Login, 10),
		Symbol:    p.Symbol,
		Side:      side,
		Volume:    lots(p.Volume, p.VolumeExt, p.hasVolumeExt),
		OpenPrice: p.PriceOpen,
		Profit:    p.Profit,
		Swap:      p.Storage,
		OpenTime:  open,
	}
}

func parsePositions(arr []byte) ([]positionRecord, error) {
	var out []positionRecord
	err := forEachElement(arr, func(r *wirejson.Reader) error {
		p, err := readPosition(r)
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// parseTicket reads the /api/trade/balance answer {"Ticket":"..."}.
func parseTicket(answer []byte) (uint64, error) {
	var ticket uint64
	err := forEachField(answer, func(key, val []byte) error {
		if string(key) == "Ticket" {
			var err error
			ticket, err = uintOf(val)
			return err
		}
		return nil
	})
	if err == nil && ticket == 0 {
		err = fmt.Errorf("%w: balance answer without Ticket", errMalformed)
	}
	return ticket, err
}

// parseTotal reads /api/deal/get_total: {"Total":"N"} as documented; {"total":"N"} (some builds) and a bare
// number are accepted too. Every other answer field is case-sensitive, so only these two spellings count.
func parseTotal(answer []byte) (int, error) {
	var n int64
	var err error
	if len(answer) > 0 && answer[0] == '{' {
		found := false
		err = forEachField(answer, func(key, val []byte) error {
			if string(key) == "Total" || (string(key) == "total" && !found) {
				found = true
				n, err = intOf(val)
				return err
			}
			return nil
		})
		if err == nil && !found {
			err = fmt.Errorf("%w: deal total answer without Total", errMalformed)
		}
	} else {
		n, err = intOf(answer)
	}
	if err != nil {
		return 0, err
	}
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: deal total %d", errMalformed, n)
	}
	return int(n), nil
}
