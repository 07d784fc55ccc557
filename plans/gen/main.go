// Command gen writes the reference programme, plans/crown-hosting.yaml, to
// standard output:
//
//	go run ./plans/gen > plans/crown-hosting.yaml
//
// The programme has the proportions of the real one wavectl was built for: a
// public-sector estate of 64 applications on about 1,570 VMs and physical
// servers, moved from a legacy vCenter into two new data centres behind a
// new vCenter, in six weekend waves and on a conveyor of 20 small
// applications. The applications, their strategies, sizes and dependencies
// are written out below; the random source (with a fixed seed, so the output
// never changes unless this file does) only varies the size of each VM and
// whether it is written as a bare name or as an object.
package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// app is one application of the programme.
type app struct {
	name, prefix, desc string
	strategy           string
	crit               string
	users              int
	n                  int      // VMs or physical servers
	deps               []string // must be earlier in the list
	profile            string   // "", "vdi", "db", "web": shapes the VM roles
	target             string   // a placement override, see overrides
}

// wave is one weekend wave and the applications it moves.
type wave struct {
	name, desc string
	onFailure  string
	target     string // a placement override, see overrides
	apps       []app
}

// overrides are the placement overrides that waves and applications use.
var overrides = map[string][]string{
	"platinum": {"cluster: C1-Platinum", "datastore: ds-plat-01"},
	"vdi":      {"cluster: C1-VDI", "datastore: ds-vdi-01", "folder: migrated/desktops"},
	"dc2": {
		"datacenter: DC2", "cluster: C2-Gold", "datastore: ds-dc2-gold-01", "folder: migrated/revenue",
		"networks:",
		"  # DC2 has portgroups of its own; these replace DC1's key by key.",
		"  \"VM Network\": pg-dc2-app-201",
		"  Legacy-Web-VLAN10: pg-dc2-web-210",
		"  Legacy-App-VLAN20: pg-dc2-app-220",
		"  Legacy-DB-VLAN30: pg-dc2-db-230",
		"  Legacy-DMZ-VLAN5: pg-dc2-dmz-205",
		"  Backup-VLAN90: pg-dc2-backup-290",
		"  Legacy-Mgmt-VLAN99: pg-dc2-mgmt-299",
	},
	"dc2-platinum": {"cluster: C2-Platinum", "datastore: ds-dc2-plat-01"},
	"silver":       {"cluster: C1-Silver", "datastore: ds-silver-01"},
}

var waves = []wave{
	{name: "wave-1-foundation", desc: "Shared infrastructure services and the citizen database", onFailure: "stop", apps: []app{
		{name: "identity-directory", prefix: "idd", desc: "Staff directory and single sign-on", strategy: "remediate", crit: "critical", users: 12000, n: 24},
		{name: "dns-dhcp", prefix: "dns", desc: "Internal DNS and DHCP", strategy: "redeploy", crit: "high", users: 12000, n: 12},
		{name: "file-services", prefix: "fs", desc: "Departmental file shares", strategy: "remediate", crit: "high", users: 9500, n: 40, deps: []string{"identity-directory"}},
		{name: "print-services", prefix: "prt", desc: "Print servers, replaced by the managed print service", strategy: "replace", crit: "medium", users: 8000, n: 14, deps: []string{"identity-directory"}},
		{name: "backup-catalogue", prefix: "bkp", desc: "Backup catalogue and media servers", strategy: "virtualise", crit: "medium", users: 30, n: 6},
		{name: "monitoring", prefix: "mon", desc: "Infrastructure monitoring and alerting", strategy: "redeploy", crit: "medium", users: 60, n: 18},
		{name: "citizen-db", prefix: "cdb", desc: "Citizen master database cluster", strategy: "virtualise", crit: "critical", users: 11000, n: 8, profile: "db", target: "platinum"},
	}},
	{name: "wave-2-citizen-core", desc: "Citizen records and the services everything else calls", onFailure: "stop", apps: []app{
		{name: "citizen-records", prefix: "cit", desc: "Citizen records system of record", strategy: "remediate", crit: "critical", users: 11000, n: 64, deps: []string{"citizen-db", "identity-directory"}},
		{name: "citizen-api", prefix: "capi", desc: "Citizen records API for other departments", strategy: "redeploy", crit: "high", users: 11000, n: 36, deps: []string{"citizen-records"}, profile: "web"},
		{name: "document-store", prefix: "doc", desc: "Scanned correspondence and evidence store", strategy: "remediate", crit: "high", users: 7000, n: 48, deps: []string{"file-services"}},
		{name: "address-gazetteer", prefix: "gaz", desc: "Local land and property gazetteer", strategy: "remediate", crit: "medium", users: 3000, n: 10},
		{name: "payments-gateway", prefix: "pay", desc: "Card and direct-debit payments gateway", strategy: "remediate", crit: "critical", users: 5200, n: 22, deps: []string{"identity-directory"}, target: "platinum"},
		{name: "notify-service", prefix: "ntf", desc: "Email, SMS and letter notifications", strategy: "redeploy", crit: "medium", users: 4000, n: 14, deps: []string{"citizen-api"}},
		{name: "integration-bus", prefix: "esb", desc: "Enterprise service bus between departments", strategy: "remediate", crit: "high", users: 9000, n: 30, deps: []string{"citizen-api"}},
	}},
	{name: "wave-3-benefits-pensions", desc: "Benefits, pensions and the contact centre", onFailure: "continue", apps: []app{
		{name: "benefits-claims", prefix: "ben", desc: "Benefit claims processing", strategy: "remediate", crit: "critical", users: 6400, n: 96, deps: []string{"citizen-api", "document-store", "integration-bus"}},
		{name: "benefits-payments", prefix: "bpay", desc: "Benefit payment runs", strategy: "remediate", crit: "critical", users: 6400, n: 44, deps: []string{"benefits-claims", "payments-gateway"}, target: "platinum"},
		{name: "pension-records", prefix: "prec", desc: "Pension records database on physical servers", strategy: "virtualise", crit: "high", users: 4200, n: 12, deps: []string{"citizen-db"}, profile: "db"},
		{name: "pension-calc", prefix: "pcalc", desc: "Pension entitlement calculator", strategy: "remediate", crit: "high", users: 4200, n: 28, deps: []string{"pension-records"}},
		{name: "fraud-analytics", prefix: "fraud", desc: "Fraud and error analytics", strategy: "redeploy", crit: "medium", users: 350, n: 26, deps: []string{"benefits-claims"}},
		{name: "appeals-tribunal", prefix: "apt", desc: "Appeals and tribunal case tracking", strategy: "remediate", crit: "medium", users: 800, n: 16, deps: []string{"benefits-claims"}},
		{name: "debt-recovery", prefix: "debt", desc: "Overpayment and debt recovery", strategy: "remediate", crit: "medium", users: 900, n: 20, deps: []string{"benefits-payments"}},
		{name: "contact-centre", prefix: "cc", desc: "Contact centre telephony and CRM", strategy: "remediate", crit: "high", users: 2100, n: 54, deps: []string{"citizen-api", "notify-service"}},
	}},
	{name: "wave-4-revenue-finance", desc: "Revenue, finance and HR, into the second data centre", onFailure: "rollback", target: "dc2", apps: []app{
		{name: "tax-assessment", prefix: "tax", desc: "Local tax assessment and billing", strategy: "remediate", crit: "critical", users: 5400, n: 88, deps: []string{"citizen-records", "address-gazetteer"}},
		{name: "council-tax", prefix: "ctax", desc: "Council tax accounts", strategy: "remediate", crit: "high", users: 1600, n: 30, deps: []string{"tax-assessment", "payments-gateway"}},
		{name: "business-rates", prefix: "nndr", desc: "Business rates accounts", strategy: "remediate", crit: "medium", users: 700, n: 18, deps: []string{"tax-assessment"}},
		{name: "finance-ledger", prefix: "fin", desc: "General ledger on physical servers", strategy: "virtualise", crit: "critical", users: 2300, n: 10, profile: "db", target: "dc2-platinum"},
		{name: "procurement", prefix: "proc", desc: "Purchase-to-pay", strategy: "redeploy", crit: "medium", users: 900, n: 16, deps: []string{"finance-ledger"}},
		{name: "hr-payroll", prefix: "hr", desc: "HR and payroll for all staff", strategy: "remediate", crit: "critical", users: 12000, n: 34, deps: []string{"finance-ledger", "identity-directory"}},
		{name: "expenses", prefix: "exp", desc: "Staff expenses, replaced by the expenses service", strategy: "replace", crit: "low", users: 12000, n: 6, deps: []string{"hr-payroll"}},
		{name: "data-warehouse", prefix: "dwh", desc: "Corporate data warehouse on physical servers", strategy: "virtualise", crit: "high", users: 450, n: 20, deps: []string{"finance-ledger"}, profile: "db"},
	}},
	{name: "wave-5-justice-licensing", desc: "Justice, licensing and passports", onFailure: "continue", apps: []app{
		{name: "case-management", prefix: "case", desc: "Justice case management", strategy: "remediate", crit: "critical", users: 7800, n: 110, deps: []string{"citizen-records", "document-store"}},
		{name: "court-listings", prefix: "court", desc: "Court hearing listings", strategy: "remediate", crit: "high", users: 3100, n: 34, deps: []string{"case-management"}},
		{name: "probation-tracking", prefix: "prob", desc: "Probation caseloads", strategy: "redeploy", crit: "high", users: 2600, n: 40, deps: []string{"case-management"}},
		{name: "vehicle-licensing", prefix: "dvl", desc: "Vehicle and driver licensing", strategy: "remediate", crit: "critical", users: 3800, n: 72, deps: []string{"payments-gateway", "citizen-api"}},
		{name: "passport-office", prefix: "pass", desc: "Passport applications", strategy: "remediate", crit: "critical", users: 3300, n: 66, deps: []string{"citizen-api", "document-store", "payments-gateway"}},
		{name: "land-registry", prefix: "land", desc: "Land registry on physical servers", strategy: "virtualise", crit: "high", users: 1900, n: 18, deps: []string{"address-gazetteer"}, profile: "db"},
		{name: "electoral-register", prefix: "elec", desc: "Electoral register", strategy: "redeploy", crit: "medium", users: 600, n: 14, deps: []string{"address-gazetteer", "citizen-records"}},
	}},
	{name: "wave-6-digital-desktop", desc: "Staff desktops and public websites", onFailure: "continue", target: "silver", apps: []app{
		{name: "staff-intranet", prefix: "intra", desc: "Staff intranet", strategy: "redeploy", crit: "medium", users: 12000, n: 24, deps: []string{"identity-directory"}, profile: "web"},
		{name: "email-archive", prefix: "mail", desc: "Email archive, replaced by the archiving service", strategy: "replace", crit: "medium", users: 9000, n: 12, deps: []string{"identity-directory"}},
		{name: "virtual-desktops", prefix: "vdi", desc: "Virtual desktop hosts for office staff", strategy: "remediate", crit: "high", users: 8000, n: 160, deps: []string{"identity-directory", "file-services", "staff-intranet"}, profile: "vdi", target: "vdi"},
		{name: "gis-mapping", prefix: "gis", desc: "Geographic information system", strategy: "remediate", crit: "medium", users: 500, n: 22, deps: []string{"address-gazetteer"}},
		{name: "planning-portal", prefix: "plan", desc: "Planning applications portal", strategy: "redeploy", crit: "medium", users: 1200, n: 28, deps: []string{"gis-mapping", "payments-gateway"}, profile: "web"},
		{name: "records-archive", prefix: "arch", desc: "Historic records archive on physical servers", strategy: "virtualise", crit: "low", users: 200, n: 8, deps: []string{"document-store"}},
		{name: "web-publishing", prefix: "cms", desc: "Public website content management", strategy: "redeploy", crit: "medium", users: 1500, n: 20, deps: []string{"staff-intranet"}, profile: "web"},
	}},
}

// conveyor holds small, low-risk applications, in the order they go.
var conveyor = []app{
	{name: "room-booking", prefix: "room", desc: "Meeting room booking", strategy: "remediate", crit: "low", users: 900, n: 3},
	{name: "visitor-passes", prefix: "vis", desc: "Visitor passes", strategy: "remediate", crit: "low", users: 120, n: 2},
	{name: "canteen-menu", prefix: "cant", desc: "Canteen menus", strategy: "redeploy", crit: "low", users: 10, n: 2, profile: "web"},
	{name: "parking-permits", prefix: "park", desc: "Staff parking permits", strategy: "remediate", crit: "low", users: 250, n: 4, deps: []string{"visitor-passes"}},
	{name: "fleet-tracking", prefix: "fleet", desc: "Pool car tracking", strategy: "remediate", crit: "low", users: 80, n: 5},
	{name: "allotments", prefix: "allot", desc: "Allotment tenancies", strategy: "remediate", crit: "low", users: 15, n: 2},
	{name: "pest-control", prefix: "pest", desc: "Pest control bookings", strategy: "redeploy", crit: "low", users: 25, n: 3},
	{name: "library-catalogue", prefix: "lib", desc: "Library catalogue", strategy: "remediate", crit: "medium", users: 400, n: 6},
	{name: "museum-collections", prefix: "mus", desc: "Museum collections database", strategy: "remediate", crit: "low", users: 40, n: 4},
	{name: "burial-records", prefix: "bur", desc: "Burial and cremation records", strategy: "remediate", crit: "low", users: 30, n: 3},
	{name: "licence-server", prefix: "lic", desc: "Software licence server on a physical box", strategy: "virtualise", crit: "low", users: 300, n: 1},
	{name: "dog-licensing", prefix: "dog", desc: "Dog licensing", strategy: "remediate", crit: "low", users: 12, n: 2},
	{name: "street-lighting", prefix: "light", desc: "Street lighting faults", strategy: "remediate", crit: "low", users: 60, n: 4},
	{name: "training-portal", prefix: "learn", desc: "Staff e-learning", strategy: "redeploy", crit: "low", users: 350, n: 6, profile: "web"},
	{name: "staff-survey", prefix: "svy", desc: "Staff survey", strategy: "remediate", crit: "low", users: 50, n: 2},
	{name: "translation-requests", prefix: "trans", desc: "Translation and interpreting requests", strategy: "remediate", crit: "low", users: 70, n: 3},
	{name: "freedom-of-info", prefix: "foi", desc: "Freedom of information requests", strategy: "remediate", crit: "medium", users: 140, n: 5, deps: []string{"translation-requests"}},
	{name: "complaints-log", prefix: "comp", desc: "Complaints log", strategy: "remediate", crit: "low", users: 220, n: 4},
	{name: "switchboard-directory", prefix: "swb", desc: "Switchboard directory, replaced by the hosted directory", strategy: "replace", crit: "low", users: 45, n: 2},
	{name: "mileage-claims", prefix: "mile", desc: "Mileage claims", strategy: "redeploy", crit: "low", users: 600, n: 3, deps: []string{"staff-survey"}},
}

// networks maps each legacy network to its portgroup in DC1.
var networks = [][2]string{
	{"VM Network", "pg-app-101"},
	{"Legacy-Web-VLAN10", "pg-web-110"},
	{"Legacy-App-VLAN20", "pg-app-120"},
	{"Legacy-DB-VLAN30", "pg-db-130"},
	{"Legacy-DMZ-VLAN5", "pg-dmz-105"},
	{"Citrix-VLAN40", "pg-vdi-140"},
	{"Backup-VLAN90", "pg-backup-190"},
	{"Legacy-Mgmt-VLAN99", "pg-mgmt-199"},
}

// firstWave is the Friday evening the first wave starts (weekend windows, Friday 18:00 to Monday 06:00); waves follow every
// six weeks.
var firstWave = time.Date(2027, time.March, 5, 18, 0, 0, 0, time.UTC) // a Friday evening

// The seed is fixed so that the output only changes when this file does.
const seed1, seed2 = 2019, 3

func main() {
	w := bufio.NewWriter(os.Stdout)
	g := &gen{w: w, rng: rand.New(rand.NewPCG(seed1, seed2))}
	g.plan()
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

type gen struct {
	w    *bufio.Writer
	rng  *rand.Rand
	seen map[string]bool // applications written so far
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(g.w, format+"\n", args...) }

// pick returns a random element of xs.
func pick[T any](g *gen, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

func quote(s string) string {
	if strings.ContainsAny(s, " :#,[]{}") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func list(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func (g *gen) plan() {
	vms, apps := 0, len(conveyor)
	for _, wv := range waves {
		apps += len(wv.apps)
		for _, a := range wv.apps {
			vms += a.n
		}
	}
	for _, a := range conveyor {
		vms += a.n
	}
	g.p("# The reference programme: a public-sector estate of %d applications on", apps)
	g.p("# %d VMs and physical servers, moved from the legacy vCenter into the two", vms)
	g.p("# data centres of the Crown private cloud in six weekend waves, with %d", len(conveyor))
	g.p("# small applications on a conveyor alongside them.")
	g.p("#")
	g.p("# Generated by `go run ./plans/gen > plans/crown-hosting.yaml`; edit")
	g.p("# plans/gen/main.go rather than this file.")
	g.p("")
	g.p("apiVersion: wavectl/v1")
	g.p("kind: MigrationPlan")
	g.p("metadata:")
	g.p("  name: crown-hosting")
	g.p("  description: Legacy estate into the Crown private cloud (DC1 and DC2)")
	g.p("  owner: crown-hosting-migration@example.gov")
	g.p("  labels:")
	g.p("    programme: crown-hosting")
	g.p("    generator: plans/gen")
	g.p("vcenters:")
	g.p("  legacy:")
	g.p("    url: https://vc-legacy.example.gov/sdk")
	g.p("  crown:")
	g.p("    url: https://vc-crown.example.gov/sdk")
	g.p("    thumbprint: \"5C:1E:9A:33:D0:7B:A2:48:E6:0F:91:C4:27:8D:B3:6A:F2:05:CE:71\"")
	g.p("source:")
	g.p("  vcenter: legacy")
	g.p("  datacenter: DC-OLD")
	g.p("target:")
	g.p("  vcenter: crown")
	g.p("  datacenter: DC1")
	g.p("  cluster: C1-Gold")
	g.p("  datastore: ds-gold-01")
	g.p("  folder: migrated")
	g.p("  retirementFolder: retired")
	g.p("  networks:")
	for _, n := range networks {
		g.p("    %s: %s", quote(n[0]), n[1])
	}
	g.p("limits:")
	g.p("  concurrency: 32")
	g.p("  perHost: 8")
	g.p("  perDatastore: 8")
	g.p("  retries: 3")
	g.p("estimates:")
	g.p("  clone: 25m")
	g.p("  relocate: 40m")
	g.p("  create-vm: 5m")
	g.p("  verify: 10m")
	g.p("hooks:")
	g.p("  verify: [\"./checks/smoke.sh\"]")
	g.p("  timeout: 10m")
	g.p("")
	g.p("applications:")
	g.seen = map[string]bool{}
	for _, wv := range waves {
		g.p("")
		g.p("  # --- %s: %s", wv.name, wv.desc)
		for _, a := range wv.apps {
			g.app(a)
		}
	}
	g.p("")
	g.p("  # --- the conveyor: small, low-risk applications, one or two at a time")
	for _, a := range conveyor {
		g.app(a)
	}
	g.p("")
	g.p("waves:")
	for i, wv := range waves {
		start := firstWave.AddDate(0, 0, 42*i)
		end := start.Add(60 * time.Hour) // Friday 18:00 to Monday 06:00
		g.p("  - name: %s", wv.name)
		g.p("    description: %s", wv.desc)
		g.p("    window: {start: %q, end: %q}", start.Format(time.RFC3339), end.Format(time.RFC3339))
		g.p("    onFailure: %s", wv.onFailure)
		if wv.target != "" {
			g.placement("    ", wv.target)
		}
		if i == 0 {
			g.p("    hooks:")
			g.p("      pre: [\"./checks/change-freeze.sh on\"]")
			g.p("      post: [\"./checks/change-freeze.sh off\"]")
		}
		names := make([]string, len(wv.apps))
		for j, a := range wv.apps {
			names[j] = a.name
		}
		g.p("    applications:")
		for _, n := range names {
			g.p("      - %s", n)
		}
	}
	g.p("")
	g.p("conveyor:")
	g.p("  inFlight: 2")
	g.p("  onFailure: continue")
	g.p("  window: {start: %q, end: %q}",
		time.Date(2027, time.March, 8, 8, 0, 0, 0, time.UTC).Format(time.RFC3339),
		time.Date(2027, time.December, 17, 18, 0, 0, 0, time.UTC).Format(time.RFC3339))
	g.p("  target:")
	g.p("    cluster: C1-Bronze")
	g.p("    datastore: ds-bronze-01")
	g.p("    folder: migrated/conveyor")
	g.p("  applications:")
	for _, a := range conveyor {
		g.p("    - %s", a.name)
	}
}

func (g *gen) placement(indent, name string) {
	lines, ok := overrides[name]
	if !ok {
		panic("no placement override " + name)
	}
	g.p("%starget:", indent)
	for _, l := range lines {
		g.p("%s  %s", indent, l)
	}
}

func (g *gen) app(a app) {
	for _, d := range a.deps {
		if !g.seen[d] {
			panic(fmt.Sprintf("%s depends on %s, which is not listed before it", a.name, d))
		}
	}
	g.seen[a.name] = true
	g.p("  - name: %s", a.name)
	g.p("    description: %s", a.desc)
	g.p("    strategy: %s", a.strategy)
	g.p("    criticality: %s", a.crit)
	g.p("    users: %d", a.users)
	if len(a.deps) > 0 {
		g.p("    dependsOn: %s", list(a.deps))
	}
	if a.target != "" {
		g.placement("    ", a.target)
	}
	switch a.strategy {
	case "virtualise":
		g.p("    servers:")
		for i := 1; i <= a.n; i++ {
			g.server(a, i)
		}
	case "redeploy":
		g.p("    template: %s", pick(g, "tpl-rhel9", "tpl-rhel9", "tpl-win2022", "tpl-ubuntu2404"))
		g.p("    customization: {domain: corp.example.gov, dns: [10.20.0.10, 10.20.0.11]}")
		g.vms(a)
	case "remediate":
		g.vms(a)
		// Most move live (cross-vCenter vMotion), their hardware upgraded
		// at the next patch reboot; the desktops grow their memory, which
		// their VMs cannot hot-add, so they move cold, as do the
		// applications whose suppliers want the upgrade done at once.
		switch {
		case a.profile == "vdi":
			g.p("    remediate: {hardwareVersion: vmx-19, memoryMB: 32768}")
		case g.rng.IntN(3) == 0:
			g.p("    remediate: {hardwareVersion: vmx-19, hardwareUpgrade: nextReboot, networks: {Legacy-Mgmt-VLAN99: pg-mgmt-299}}")
		case g.rng.IntN(6) == 0:
			g.p("    remediate: {hardwareVersion: vmx-19}  # the supplier wants the upgrade before the move: cold")
		default:
			g.p("    remediate: {hardwareVersion: vmx-19, hardwareUpgrade: nextReboot}")
		}
	case "replace":
		g.vms(a)
		g.p("    replacement: {template: tpl-%s-service, name: %s-svc-01}", a.prefix, a.prefix)
		g.p("    retainDays: %d", pick(g, 30, 60, 90))
	}
	if a.crit == "critical" || a.crit == "high" {
		port := map[string]int{"db": 1521, "web": 443, "vdi": 3389}[a.profile]
		if port == 0 {
			port = 8443
		}
		g.p("    checks: [{tcp: %d}]", port)
	}
}

// role names a VM's tier and the networks it sits on.
type role struct {
	name string
	nets []string
}

func (g *gen) roles(a app) []role {
	web := role{"web", []string{"Legacy-Web-VLAN10"}}
	if a.profile == "web" {
		web.nets = []string{"Legacy-DMZ-VLAN5"}
	}
	app := role{"app", []string{"Legacy-App-VLAN20"}}
	db := role{"db", []string{"Legacy-DB-VLAN30", "Backup-VLAN90"}}
	batch := role{"batch", []string{"Legacy-App-VLAN20", "Legacy-Mgmt-VLAN99"}}
	var out []role
	for i := 0; i < a.n; i++ {
		f := float64(i) / float64(a.n)
		switch {
		case a.profile == "vdi":
			out = append(out, role{"host", []string{"Citrix-VLAN40", "Legacy-Mgmt-VLAN99"}})
		case a.profile == "db" && f < 0.7, a.n >= 3 && f < 0.15:
			out = append(out, db)
		case f < 0.45:
			out = append(out, web)
		case f < 0.9 || a.n < 4:
			out = append(out, app)
		default:
			out = append(out, batch)
		}
	}
	return out
}

func vmName(a app, r string, i, n int) string {
	if n > 99 {
		return fmt.Sprintf("%s-%s-%03d", a.prefix, r, i)
	}
	return fmt.Sprintf("%s-%s-%02d", a.prefix, r, i)
}

// size returns a plausible CPU count, memory and disks for a role.
func (g *gen) size(r string) (cpus, mem int, disks []int) {
	switch r {
	case "db":
		cpus, mem = pick(g, 8, 8, 16, 16, 24), pick(g, 32768, 65536, 65536, 131072)
		disks = []int{100, pick(g, 500, 1000, 2000), pick(g, 200, 500)}
	case "web":
		cpus, mem = pick(g, 2, 2, 4), pick(g, 4096, 8192)
		disks = []int{60}
	case "host":
		cpus, mem = 8, pick(g, 32768, 49152)
		disks = []int{120}
	case "batch":
		cpus, mem = pick(g, 4, 8), pick(g, 8192, 16384)
		disks = []int{80, pick(g, 250, 500)}
	default:
		cpus, mem = pick(g, 2, 4, 4, 8), pick(g, 8192, 16384, 16384, 32768)
		disks = []int{80, pick(g, 100, 200)}
	}
	return cpus, mem, disks
}

func (g *gen) vms(a app) {
	g.p("    vms:")
	counts := map[string]int{}
	for _, r := range g.roles(a) {
		counts[r.name]++
		name := vmName(a, r.name, counts[r.name], a.n)
		// About a third of the VMs are written as bare names, as an engineer
		// would list VMs whose size they do not know; the rest carry sizes.
		if g.rng.IntN(3) == 0 {
			g.p("      - %s", name)
			continue
		}
		cpus, mem, disks := g.size(r.name)
		fields := []string{
			"name: " + name,
			fmt.Sprintf("cpus: %d", cpus),
			fmt.Sprintf("memoryMB: %d", mem),
			"disksGB: " + ints(disks),
			"networks: " + list(r.nets),
		}
		switch x := g.rng.IntN(20); {
		case x == 0 || (r.name == "batch" && x < 8):
			fields = append(fields, "powerState: poweredOff")
		case x < 6:
			fields = append(fields, "powerState: poweredOn")
		}
		if g.rng.IntN(4) == 0 {
			fields = append(fields, "hardwareVersion: "+pick(g, "vmx-10", "vmx-11", "vmx-13", "vmx-14"))
		}
		g.p("      - {%s}", strings.Join(fields, ", "))
	}
}

func (g *gen) server(a app, i int) {
	r := "phys"
	cpus, mem, disks := g.size(map[string]string{"db": "db"}[a.profile])
	if a.profile == "db" {
		cpus *= 2
	}
	nets := []string{"Legacy-App-VLAN20", "Backup-VLAN90"}
	if a.profile == "db" {
		nets = []string{"Legacy-DB-VLAN30", "Backup-VLAN90"}
	}
	guest := pick(g, "rhel8_64Guest", "windows2019srv_64Guest", "oracleLinux8_64Guest")
	g.p("      - {name: %s, cpus: %d, memoryMB: %d, disksGB: %s, networks: %s, guestId: %s}",
		vmName(a, r, i, a.n), cpus, mem, ints(disks), list(nets), guest)
}
