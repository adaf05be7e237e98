//! A deterministic generator of a sample organisation's documents, for `ctx demo` and `ctx bench`.
//!
//! The organisation is fixed (Halcyon Works: 30 people, 10 customers with contacts and deals,
//! 10 projects with code names); the seed only decides which documents are written about them.
//! Documents are meeting notes, project specs, customer account briefs, weekly reports (all
//! markdown with a `# title`), wiki pages (HTML with a `<title>`), plain-text memos and mail
//! exports, and a few Rust/Python source files, in nested folders. Sizes range from ~200 bytes to
//! ~30 KB (about 1.5% are long, so token-budget trimming shows), averaging ~2 KB.
//!
//! Each document's content depends only on `(seed, index)`, so generation is parallel and the
//! same options always give byte-identical files.
//!
//! For `ctx demo` only, [`generate_mail`] writes the organisation's mailbox (a Maildir++ tree)
//! and [`generate_calendar`] its calendars (`.ics`); both are dated around a given day (today in
//! the demo), so they are identical for the same seed *and* date. `ctx bench` uses documents only.

pub mod crm;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusOptions {
    /// Number of files to write.
    pub documents: usize,
    /// Seed of the generator; the same seed gives identical files.
    pub seed: u64,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            documents: 300,
            seed: 42,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorpusStats {
    pub files: usize,
    pub bytes: u64,
}

/// The organisation's own mail domain.
pub const ORG_NAME: &str = "Halcyon Works";
pub const ORG_DOMAIN: &str = "halcyonworks.com";

/// Writes `options.documents` files under `dir` (created if needed). Existing files with the
/// same names are overwritten; other files are left alone.
pub fn generate(dir: &Path, options: &CorpusOptions) -> std::io::Result<CorpusStats> {
    std::fs::create_dir_all(dir)?;
    let n = options.documents;
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(n.max(1));
    if threads <= 1 || n < 64 {
        return write_range(dir, options.seed, 0, n, 1);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || write_range(dir, options.seed, t, n, threads)))
            .collect();
        let mut total = CorpusStats::default();
        for handle in handles {
            let stats = handle
                .join()
                .map_err(|_| std::io::Error::other("corpus generator thread panicked"))??;
            total.files += stats.files;
            total.bytes += stats.bytes;
        }
        Ok(total)
    })
}

/// Writes documents `start, start + step, ...` below `n`.
fn write_range(
    dir: &Path,
    seed: u64,
    start: usize,
    n: usize,
    step: usize,
) -> std::io::Result<CorpusStats> {
    let mut made: HashSet<PathBuf> = HashSet::new();
    let mut stats = CorpusStats::default();
    let mut buf = String::with_capacity(64 * 1024);
    let mut index = start;
    while index < n {
        buf.clear();
        let rel = document(seed, index, &mut buf);
        let path = dir.join(&rel);
        if let Some(parent) = path.parent()
            && !made.contains(parent)
        {
            std::fs::create_dir_all(parent)?;
            made.insert(parent.to_path_buf());
        }
        std::fs::write(&path, buf.as_bytes())?;
        stats.files += 1;
        stats.bytes += buf.len() as u64;
        index += step;
    }
    Ok(stats)
}

/// Queries that show the product on the generated corpus, mail and calendars: a deal (its
/// documents, mail thread and review meeting), people (their mail and meetings), projects,
/// topics and questions.
pub fn demo_queries() -> Vec<&'static str> {
    vec![
        "Acme renewal",
        "Janet Morales",
        "Priya Raman",
        "Project Falcon ingestion pipeline",
        "SOC 2 audit evidence",
        "what did we promise Globex about single sign-on?",
        "who owns the Initech expansion and when does it close?",
    ]
}

/// At least 50 varied queries for the benchmark: people, companies, deals, projects, topics,
/// questions, e-mail addresses, amounts, rare words and very common words.
pub fn bench_queries() -> Vec<String> {
    let mut q: Vec<String> = Vec::new();
    // People: employees and customer contacts, full names and last names.
    for &i in &[0usize, 1, 7, 8, 12, 13, 17, 23, 25, 26] {
        let p = &EMPLOYEES[i];
        q.push(format!("{} {}", p.first, p.last));
    }
    q.push("Okafor".into());
    q.push("Lumbergh".into());
    q.push("Lucius Fox".into());
    q.push("Janet Morales Acme".into());
    // Companies.
    for c in CUSTOMERS.iter().take(8) {
        q.push(c.name.to_string());
    }
    // Deals.
    q.push("Acme renewal".into());
    q.push("Globex expansion".into());
    q.push("Initech expansion close date".into());
    q.push("Stark Industries on-prem license".into());
    q.push("Hooli expansion pricing".into());
    q.push("Vandelay renewal churn risk".into());
    q.push("Umbrella Health new business".into());
    // Projects.
    for p in PROJECTS.iter().take(6) {
        q.push(format!("Project {}", p.code));
    }
    q.push("Nimbus data residency".into());
    q.push("Bluebird SCIM provisioning".into());
    // Topics.
    for t in &[
        "SOC 2 audit",
        "single sign-on",
        "usage-based pricing",
        "latency regression",
        "invoice disputes",
        "API rate limits",
        "quarterly business review",
        "HIPAA compliance",
    ] {
        q.push(t.to_string());
    }
    // Questions (paraphrase-ish, long).
    q.push("what did we promise Globex about single sign-on?".into());
    q.push("who owns the Initech expansion and when does it close?".into());
    q.push("why is the Hooli account at risk this quarter".into());
    q.push("summary of action items from the last Acme meeting".into());
    q.push("which customers asked about data residency in Europe".into());
    q.push("status of the on-premise installer for Stark".into());
    // E-mail addresses and amounts.
    q.push("priya.raman@halcyonworks.com".into());
    q.push("lena.vos@globex.io".into());
    q.push("$480,000".into());
    // Rare words.
    q.push("quokka".into());
    q.push("petrichor sextant".into());
    q.push("marzipan".into());
    // Very common words.
    q.push("meeting".into());
    q.push("customer update".into());
    q.push("the team".into());
    q.push("next steps".into());
    // Code.
    q.push("fn retry_with_backoff".into());
    q.push("def compute_invoice".into());
    q
}

// ---------------------------------------------------------------------------------------------
// The organisation.

struct Employee {
    first: &'static str,
    last: &'static str,
    title: &'static str,
    team: &'static str,
}

const fn e(
    first: &'static str,
    last: &'static str,
    title: &'static str,
    team: &'static str,
) -> Employee {
    Employee {
        first,
        last,
        title,
        team,
    }
}

const EMPLOYEES: [Employee; 30] = [
    e("Priya", "Raman", "VP of Sales", "Sales"),
    e("Marcus", "Chen", "Senior Account Executive", "Sales"),
    e("Sofia", "Lindqvist", "Account Executive", "Sales"),
    e("Daniel", "Okafor", "Sales Engineer", "Sales"),
    e(
        "Hannah",
        "Becker",
        "Customer Success Lead",
        "Customer Success",
    ),
    e(
        "Luis",
        "Moreno",
        "Customer Success Manager",
        "Customer Success",
    ),
    e("Aiko", "Tanaka", "Support Engineer", "Customer Success"),
    e("Elena", "Petrova", "Head of Engineering", "Engineering"),
    e("Tom", "Alvarez", "Staff Engineer", "Engineering"),
    e("Grace", "Kim", "Senior Backend Engineer", "Engineering"),
    e("Samuel", "Adeyemi", "Backend Engineer", "Engineering"),
    e("Nora", "Fischer", "Frontend Engineer", "Engineering"),
    e("Ravi", "Iyer", "Site Reliability Engineer", "Engineering"),
    e("Chloe", "Dubois", "Security Engineer", "Engineering"),
    e("Mateo", "Rossi", "Mobile Engineer", "Engineering"),
    e("Ingrid", "Solberg", "Data Engineer", "Data"),
    e("Kwame", "Mensah", "Data Scientist", "Data"),
    e("Olivia", "Grant", "Head of Product", "Product"),
    e("Benjamin", "Weiss", "Product Manager", "Product"),
    e("Yasmin", "Haddad", "Product Designer", "Product"),
    e("Jonas", "Berg", "UX Researcher", "Product"),
    e("Fatima", "Zahra", "Marketing Director", "Marketing"),
    e("Ethan", "Brooks", "Content Marketing Manager", "Marketing"),
    e("Mei", "Lin", "Chief Financial Officer", "Finance"),
    e("Patrick", "Doyle", "Financial Analyst", "Finance"),
    e("Rachel", "Goldberg", "General Counsel", "Legal"),
    e("Victor", "Novak", "Chief Executive Officer", "Executive"),
    e("Amara", "Nwosu", "Chief Operating Officer", "Executive"),
    e("Lucas", "Moreau", "People Operations Manager", "People"),
    e("Zoe", "Harper", "Recruiter", "People"),
];

const TEAMS: [&str; 9] = [
    "Sales",
    "Customer Success",
    "Engineering",
    "Data",
    "Product",
    "Marketing",
    "Finance",
    "Legal",
    "People",
];

struct Contact {
    first: &'static str,
    last: &'static str,
    title: &'static str,
}

struct Deal {
    kind: &'static str,
    amount: u32,
    close: &'static str,
    product: &'static str,
}

struct Customer {
    name: &'static str,
    slug: &'static str,
    domain: &'static str,
    industry: &'static str,
    city: &'static str,
    concern: &'static str,
    owner: usize,
    csm: usize,
    contacts: [Contact; 2],
    deals: [Deal; 2],
}

const fn c(first: &'static str, last: &'static str, title: &'static str) -> Contact {
    Contact { first, last, title }
}

const fn d(kind: &'static str, amount: u32, close: &'static str, product: &'static str) -> Deal {
    Deal {
        kind,
        amount,
        close,
        product,
    }
}

const CUSTOMERS: [Customer; 10] = [
    Customer {
        name: "Acme Corp",
        slug: "acme",
        domain: "acme-corp.com",
        industry: "industrial manufacturing",
        city: "Chicago",
        concern: "data residency",
        owner: 1,
        csm: 4,
        contacts: [
            c("Janet", "Morales", "VP of Operations"),
            c("Derek", "Olsen", "IT Director"),
        ],
        deals: [
            d("renewal", 480_000, "Q2 2026", "Enterprise plan"),
            d("expansion", 120_000, "Q3 2026", "Analytics add-on"),
        ],
    },
    Customer {
        name: "Globex",
        slug: "globex",
        domain: "globex.io",
        industry: "logistics",
        city: "Rotterdam",
        concern: "single sign-on",
        owner: 2,
        csm: 5,
        contacts: [c("Hank", "Scorpio", "CEO"), c("Lena", "Vos", "Head of IT")],
        deals: [
            d("expansion", 310_000, "Q2 2026", "additional regions"),
            d("renewal", 220_000, "Q4 2026", "Business plan"),
        ],
    },
    Customer {
        name: "Initech",
        slug: "initech",
        domain: "initech.com",
        industry: "financial software",
        city: "Austin",
        concern: "SOC 2 audit",
        owner: 1,
        csm: 4,
        contacts: [
            c("Bill", "Lumbergh", "Division VP"),
            c("Joanna", "Park", "Procurement Manager"),
        ],
        deals: [
            d("expansion", 95_000, "Q3 2026", "200 more seats"),
            d("renewal", 180_000, "Q1 2027", "Business plan"),
        ],
    },
    Customer {
        name: "Umbrella Health",
        slug: "umbrella-health",
        domain: "umbrella-health.com",
        industry: "healthcare",
        city: "Boston",
        concern: "HIPAA compliance",
        owner: 0,
        csm: 5,
        contacts: [
            c("Alicia", "Wong", "CISO"),
            c("Peter", "Hall", "Clinical Systems Lead"),
        ],
        deals: [
            d("pilot", 60_000, "Q2 2026", "90-day pilot"),
            d("new business", 540_000, "Q4 2026", "Enterprise plan"),
        ],
    },
    Customer {
        name: "Hooli",
        slug: "hooli",
        domain: "hooli.xyz",
        industry: "consumer internet",
        city: "Palo Alto",
        concern: "API rate limits",
        owner: 2,
        csm: 6,
        contacts: [
            c("Gavin", "Belson", "CEO"),
            c("Denise", "Ortega", "Platform Architect"),
        ],
        deals: [
            d("expansion", 750_000, "Q3 2026", "platform tier"),
            d("renewal", 410_000, "Q1 2027", "Enterprise plan"),
        ],
    },
    Customer {
        name: "Stark Industries",
        slug: "stark",
        domain: "starkindustries.com",
        industry: "aerospace",
        city: "Los Angeles",
        concern: "on-premise deployment",
        owner: 0,
        csm: 4,
        contacts: [
            c("Virginia", "Potts", "COO"),
            c("Harold", "Hogan", "Head of Security"),
        ],
        deals: [
            d("new business", 1_200_000, "Q4 2026", "on-prem license"),
            d("pilot", 80_000, "Q2 2026", "air-gapped pilot"),
        ],
    },
    Customer {
        name: "Wayne Enterprises",
        slug: "wayne",
        domain: "wayne-ent.com",
        industry: "conglomerate",
        city: "Gotham",
        concern: "audit logging",
        owner: 1,
        csm: 5,
        contacts: [
            c("Lucius", "Fox", "CTO"),
            c("Selina", "Kyle", "Procurement Lead"),
        ],
        deals: [
            d("renewal", 390_000, "Q3 2026", "Enterprise plan"),
            d("upsell", 70_000, "Q2 2026", "premium support"),
        ],
    },
    Customer {
        name: "Soylent Foods",
        slug: "soylent",
        domain: "soylent.co",
        industry: "food production",
        city: "Minneapolis",
        concern: "usage-based pricing",
        owner: 2,
        csm: 6,
        contacts: [
            c("Ruth", "Castillo", "Director of Finance"),
            c("Owen", "Price", "Data Lead"),
        ],
        deals: [
            d("upsell", 85_000, "Q2 2026", "usage tier"),
            d("renewal", 150_000, "Q4 2026", "Business plan"),
        ],
    },
    Customer {
        name: "Vandelay Industries",
        slug: "vandelay",
        domain: "vandelay.com",
        industry: "import and export",
        city: "New York",
        concern: "invoice disputes",
        owner: 1,
        csm: 5,
        contacts: [
            c("Art", "Vandelay", "Owner"),
            c("Susan", "Ross", "Operations Manager"),
        ],
        deals: [
            d("renewal", 72_000, "Q2 2026", "Team plan"),
            d("downgrade", 30_000, "Q3 2026", "Starter plan"),
        ],
    },
    Customer {
        name: "Tyrell Systems",
        slug: "tyrell",
        domain: "tyrell.ai",
        industry: "AI research",
        city: "Seattle",
        concern: "search relevance",
        owner: 0,
        csm: 6,
        contacts: [
            c("Eldon", "Tyrell", "Founder"),
            c("Rachael", "Rosen", "Head of Research Operations"),
        ],
        deals: [
            d("pilot", 45_000, "Q2 2026", "research pilot"),
            d("expansion", 260_000, "Q4 2026", "Enterprise plan"),
        ],
    },
];

struct Project {
    code: &'static str,
    summary: &'static str,
    topic: &'static str,
    lead: usize,
    customer: usize,
}

const PROJECTS: [Project; 10] = [
    Project {
        code: "Falcon",
        summary: "the new ingestion pipeline",
        topic: "ingestion throughput",
        lead: 8,
        customer: 4,
    },
    Project {
        code: "Bluebird",
        summary: "single sign-on and SCIM provisioning",
        topic: "single sign-on",
        lead: 13,
        customer: 1,
    },
    Project {
        code: "Nimbus",
        summary: "multi-region data residency",
        topic: "data residency",
        lead: 12,
        customer: 0,
    },
    Project {
        code: "Orion",
        summary: "usage-based billing",
        topic: "usage-based pricing",
        lead: 18,
        customer: 7,
    },
    Project {
        code: "Kestrel",
        summary: "mobile offline mode",
        topic: "offline sync",
        lead: 14,
        customer: 3,
    },
    Project {
        code: "Juniper",
        summary: "search relevance and ranking",
        topic: "search relevance",
        lead: 9,
        customer: 9,
    },
    Project {
        code: "Atlas",
        summary: "self-serve onboarding",
        topic: "onboarding flow",
        lead: 19,
        customer: 6,
    },
    Project {
        code: "Quartz",
        summary: "analytics dashboards",
        topic: "analytics dashboards",
        lead: 15,
        customer: 0,
    },
    Project {
        code: "Lighthouse",
        summary: "SOC 2 evidence collection and audit logging",
        topic: "SOC 2 audit",
        lead: 13,
        customer: 2,
    },
    Project {
        code: "Tidewater",
        summary: "the on-premise installer",
        topic: "on-premise deployment",
        lead: 10,
        customer: 5,
    },
];

const TOPICS: [&str; 40] = [
    "single sign-on",
    "SCIM provisioning",
    "data residency",
    "data retention policy",
    "usage-based pricing",
    "latency regression",
    "onboarding flow",
    "SOC 2 audit",
    "HIPAA compliance",
    "GDPR requests",
    "churn risk",
    "quarterly business review",
    "API rate limits",
    "webhook reliability",
    "search relevance",
    "offline sync",
    "invoice disputes",
    "contract redlines",
    "security questionnaire",
    "penetration test",
    "incident postmortem",
    "on-call rotation",
    "hiring plan",
    "roadmap planning",
    "pricing page",
    "audit logging",
    "backup and restore",
    "disaster recovery",
    "database migration",
    "cost optimisation",
    "customer health score",
    "support escalations",
    "feature flags",
    "release train",
    "accessibility review",
    "analytics dashboards",
    "ingestion throughput",
    "on-premise deployment",
    "partner integrations",
    "annual kickoff",
];

const NOUNS: [&str; 64] = [
    "dashboard",
    "pipeline",
    "contract",
    "invoice",
    "rollout",
    "migration",
    "backlog",
    "forecast",
    "runbook",
    "schema",
    "cluster",
    "endpoint",
    "workflow",
    "checklist",
    "timeline",
    "budget",
    "proposal",
    "prototype",
    "benchmark",
    "milestone",
    "dependency",
    "integration",
    "deployment",
    "escalation",
    "questionnaire",
    "renewal",
    "quota",
    "pilot",
    "handoff",
    "playbook",
    "template",
    "scorecard",
    "survey",
    "interview",
    "postmortem",
    "retrospective",
    "latency",
    "throughput",
    "certificate",
    "permission",
    "tenant",
    "region",
    "connector",
    "export",
    "importer",
    "cache",
    "index",
    "queue",
    "scheduler",
    "notification",
    "report",
    "audit",
    "policy",
    "license",
    "seat",
    "discount",
    "invoice run",
    "onboarding call",
    "design review",
    "demo",
    "trial",
    "webinar",
    "newsletter",
    "roadmap",
];

const ADJECTIVES: [&str; 32] = [
    "critical",
    "stable",
    "delayed",
    "urgent",
    "promising",
    "fragile",
    "expensive",
    "minimal",
    "revised",
    "quarterly",
    "manual",
    "automated",
    "legacy",
    "upcoming",
    "blocked",
    "overdue",
    "simplified",
    "regional",
    "shared",
    "internal",
    "external",
    "preliminary",
    "final",
    "noisy",
    "flaky",
    "healthy",
    "at-risk",
    "strategic",
    "tentative",
    "detailed",
    "rough",
    "approved",
];

const VERBS: [&str; 28] = [
    "slipped",
    "improved",
    "regressed",
    "shipped",
    "stalled",
    "recovered",
    "doubled",
    "halved",
    "changed",
    "broke",
    "passed review",
    "needs rework",
    "was approved",
    "was descoped",
    "was escalated",
    "was merged",
    "went live",
    "was rolled back",
    "was paused",
    "was re-scoped",
    "missed the deadline",
    "beat the estimate",
    "is on track",
    "is at risk",
    "got sign-off",
    "was reprioritised",
    "was benchmarked",
    "was demoed",
];

const ACTIONS: [&str; 24] = [
    "send the revised proposal",
    "schedule a follow-up call",
    "share the security questionnaire",
    "update the forecast",
    "draft the migration plan",
    "book the quarterly business review",
    "prepare the pricing options",
    "file the incident report",
    "write the runbook",
    "review the contract redlines",
    "confirm the rollout date",
    "collect SOC 2 evidence",
    "check the latency dashboard",
    "reply to procurement",
    "update the account plan",
    "loop in legal",
    "set up the pilot tenant",
    "benchmark the new index",
    "triage the support backlog",
    "send meeting notes to the customer",
    "estimate the engineering effort",
    "sign off on the design",
    "post the release notes",
    "prepare the board slides",
];

const RARE: [&str; 16] = [
    "quokka",
    "petrichor",
    "sextant",
    "marzipan",
    "kerfuffle",
    "halyard",
    "gossamer",
    "bergamot",
    "isthmus",
    "zeppelin",
    "obsidian",
    "tamarind",
    "lighthouse keeper",
    "axolotl",
    "cassowary",
    "samovar",
];

const WIKI_SECTIONS: [&str; 6] = [
    "engineering",
    "sales-playbook",
    "security",
    "people",
    "product",
    "operations",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

// ---------------------------------------------------------------------------------------------
// Randomness.

/// splitmix64: small, fast and good enough for text generation.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn for_document(seed: u64, index: usize) -> Rng {
        let mut r = Rng(seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Documents.

#[derive(Clone, Copy)]
struct Date {
    year: u32,
    month: u32,
    day: u32,
}

impl Date {
    /// A day from 2025-01-01 to 2026-06-30.
    fn random(rng: &mut Rng) -> Date {
        const LEN: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let mut n = rng.below(546) as u32;
        let mut year = 2025;
        if n >= 365 {
            year = 2026;
            n -= 365;
        }
        let mut month = 0;
        while n >= LEN[month] {
            n -= LEN[month];
            month += 1;
        }
        Date {
            year,
            month: month as u32 + 1,
            day: n + 1,
        }
    }

    fn iso(self) -> String {
        format!("{}-{:02}-{:02}", self.year, self.month, self.day)
    }

    fn long(self) -> String {
        format!(
            "{} {} {}",
            self.day,
            MONTHS[self.month as usize - 1],
            self.year
        )
    }

    fn week(self) -> u32 {
        const START: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        (START[self.month as usize - 1] + self.day - 1) / 7 + 1
    }
}

/// What one document is about.
struct Ctx {
    date: Date,
    customer: usize,
    deal: usize,
    project: usize,
    topic: &'static str,
    people: Vec<usize>,
}

impl Ctx {
    fn new(rng: &mut Rng) -> Ctx {
        let project = rng.below(PROJECTS.len());
        // Projects are tied to a customer half of the time, so topics and companies co-occur.
        let customer = if rng.chance(50) {
            PROJECTS[project].customer
        } else {
            rng.below(CUSTOMERS.len())
        };
        let topic = match rng.below(10) {
            0..=3 => CUSTOMERS[customer].concern,
            4..=5 => PROJECTS[project].topic,
            _ => *rng.pick(&TOPICS),
        };
        let mut people = vec![
            CUSTOMERS[customer].owner,
            CUSTOMERS[customer].csm,
            PROJECTS[project].lead,
        ];
        for _ in 0..rng.range(1, 4) {
            let p = rng.below(EMPLOYEES.len());
            if !people.contains(&p) {
                people.push(p);
            }
        }
        // Shuffle so the first-named person varies.
        for i in (1..people.len()).rev() {
            let j = rng.below(i + 1);
            people.swap(i, j);
        }
        Ctx {
            date: Date::random(rng),
            customer,
            deal: rng.below(2),
            project,
            topic,
            people,
        }
    }

    fn cust(&self) -> &'static Customer {
        &CUSTOMERS[self.customer]
    }

    fn deal(&self) -> &'static Deal {
        &self.cust().deals[self.deal]
    }

    fn proj(&self) -> &'static Project {
        &PROJECTS[self.project]
    }

    fn person(&self, rng: &mut Rng) -> &'static Employee {
        &EMPLOYEES[*rng.pick(&self.people)]
    }

    fn contact(&self, rng: &mut Rng) -> &'static Contact {
        rng.pick(&self.cust().contacts)
    }
}

fn name(p: &Employee) -> String {
    format!("{} {}", p.first, p.last)
}

fn email(p: &Employee) -> String {
    format!(
        "{}.{}@{}",
        p.first.to_ascii_lowercase(),
        p.last.to_ascii_lowercase(),
        ORG_DOMAIN
    )
}

fn contact_email(c: &Contact, cust: &Customer) -> String {
    format!(
        "{}.{}@{}",
        c.first.to_ascii_lowercase(),
        c.last.to_ascii_lowercase(),
        cust.domain
    )
}

fn money(amount: u32) -> String {
    let s = amount.to_string();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    format!("${out}")
}

fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// One sentence about the document's context.
fn sentence(rng: &mut Rng, cx: &Ctx) -> String {
    let cust = cx.cust();
    let deal = cx.deal();
    let proj = cx.proj();
    match rng.below(30) {
        0 => format!(
            "{} raised a concern about {} and asked {} to follow up by {}.",
            name(cx.person(rng)),
            cx.topic,
            name(cx.person(rng)),
            Date::random(rng).long()
        ),
        1 => format!(
            "We agreed that {} is the main blocker for the {} {} ({}, closing {}).",
            cx.topic,
            cust.name,
            deal.kind,
            money(deal.amount),
            deal.close
        ),
        2 => {
            let ct = cx.contact(rng);
            format!(
                "{} {} ({}) wants a written answer on {} before {} signs anything.",
                ct.first, ct.last, ct.title, cust.concern, cust.name
            )
        }
        3 => format!(
            "The {} {} {} after the {} change; {} will {}.",
            rng.pick(&ADJECTIVES),
            rng.pick(&NOUNS),
            rng.pick(&VERBS),
            rng.pick(&NOUNS),
            name(cx.person(rng)),
            rng.pick(&ACTIONS)
        ),
        4 => format!(
            "Project {} ({}) {} this week, according to {}.",
            proj.code,
            proj.summary,
            rng.pick(&VERBS),
            name(&EMPLOYEES[proj.lead])
        ),
        5 => format!(
            "{} owns the {} account; {} handles day-to-day questions from their {} team in {}.",
            name(&EMPLOYEES[cust.owner]),
            cust.name,
            name(&EMPLOYEES[cust.csm]),
            cust.industry,
            cust.city
        ),
        6 => format!(
            "The {} {} for {} is {} for {}, and {} thinks it will close in {}.",
            cust.name,
            deal.kind,
            deal.product,
            money(deal.amount),
            cust.name,
            name(&EMPLOYEES[cust.owner]),
            deal.close
        ),
        7 => {
            let p = cx.person(rng);
            format!(
                "Action: {} to {} ({}).",
                name(p),
                rng.pick(&ACTIONS),
                email(p)
            )
        }
        8 => {
            let ct = cx.contact(rng);
            format!(
                "{} {} <{}> confirmed that {} is still the priority for {}.",
                ct.first,
                ct.last,
                contact_email(ct, cust),
                cx.topic,
                rng.pick(&[
                    "this quarter",
                    "next quarter",
                    "the renewal",
                    "the board",
                    "their CTO"
                ])
            )
        }
        9 => format!(
            "p95 latency on the {} {} went from {} ms to {} ms after the {} rollout.",
            rng.pick(&["search", "ingest", "billing", "export", "login", "sync"]),
            rng.pick(&["endpoint", "pipeline", "worker", "job", "path"]),
            rng.range(20, 400),
            rng.range(5, 300),
            proj.code
        ),
        10 => format!(
            "{} {} is {}; the {} still needs {}.",
            capitalise(rng.word(&ADJECTIVES)),
            rng.pick(&NOUNS),
            rng.pick(&[
                "on hold",
                "done",
                "in review",
                "half finished",
                "out of scope",
                "next"
            ]),
            rng.pick(&NOUNS),
            rng.pick(&[
                "an owner",
                "a decision",
                "legal review",
                "budget",
                "a second reviewer",
                "more data"
            ])
        ),
        11 => format!(
            "Risk: if {} slips past {}, the {} {} could move to the following quarter.",
            cx.topic, deal.close, cust.name, deal.kind
        ),
        12 => format!(
            "{} shared numbers: {} active seats, {} API calls per day, {}% month-over-month growth.",
            name(cx.person(rng)),
            rng.range(40, 5000),
            rng.range(10, 900) * 1000,
            rng.range(1, 25)
        ),
        13 => format!(
            "{} asked whether {} could be part of the {} plan for {}.",
            name(cx.person(rng)),
            rng.pick(&TOPICS),
            rng.pick(&["Q1", "Q2", "Q3", "Q4"]),
            cx.date.year
        ),
        14 => format!(
            "Decision: we will {} and revisit {} at the next {}.",
            rng.pick(&ACTIONS),
            cx.topic,
            rng.pick(&[
                "steering meeting",
                "weekly sync",
                "design review",
                "pipeline review",
                "staff meeting"
            ])
        ),
        15 => format!(
            "Context from {}: {} has used us since {} and renewed twice; the relationship is {}.",
            name(&EMPLOYEES[cust.csm]),
            cust.name,
            rng.range(2018, 2024),
            rng.pick(&[
                "healthy",
                "strained",
                "improving",
                "warm",
                "quiet",
                "at risk"
            ])
        ),
        16 => format!(
            "The {} {} and the {} {} are related: both depend on {}.",
            rng.pick(&ADJECTIVES),
            rng.pick(&NOUNS),
            rng.pick(&ADJECTIVES),
            rng.pick(&NOUNS),
            proj.summary
        ),
        17 => format!(
            "{} will present {} to {} on {}.",
            name(cx.person(rng)),
            rng.pick(&[
                "the roadmap",
                "the pricing options",
                "the security review",
                "the pilot results",
                "the migration plan"
            ]),
            cust.name,
            Date::random(rng).long()
        ),
        18 => format!(
            "Open question from {}: who signs off on {} for {}?",
            name(cx.person(rng)),
            cx.topic,
            proj.code
        ),
        19 => format!(
            "{} estimated {} engineer-weeks for the {} work, mostly in the {} and the {}.",
            name(&EMPLOYEES[proj.lead]),
            rng.range(2, 30),
            proj.code,
            rng.pick(&NOUNS),
            rng.pick(&NOUNS)
        ),
        20 => format!(
            "Procurement at {} ({}) needs the {} and the {} by {}.",
            cust.name,
            cust.domain,
            rng.pick(&[
                "security questionnaire",
                "signed DPA",
                "order form",
                "W-9",
                "insurance certificate"
            ]),
            rng.pick(&[
                "revised quote",
                "SLA terms",
                "architecture diagram",
                "pen test summary",
                "SOC 2 report"
            ]),
            deal.close
        ),
        21 => format!(
            "Support saw {} tickets about {} last week; {} thinks the {} {}.",
            rng.range(2, 60),
            rng.pick(&TOPICS),
            name(cx.person(rng)),
            rng.pick(&NOUNS),
            rng.pick(&VERBS)
        ),
        22 => format!(
            "{} noted that the {} team is short-handed until {} joins.",
            name(cx.person(rng)),
            rng.pick(&TEAMS),
            rng.pick(&[
                "a new hire",
                "the contractor",
                "the second SRE",
                "the new designer"
            ])
        ),
        23 => format!(
            "Discount request: {} asked for {}% off the {} in exchange for a {}-year term.",
            cust.name,
            rng.range(5, 30),
            deal.product,
            rng.range(2, 3)
        ),
        24 => format!(
            "The {} {} {}, which matters for {} and for {}.",
            rng.pick(&NOUNS),
            rng.pick(&NOUNS),
            rng.pick(&VERBS),
            rng.pick(&TOPICS),
            rng.pick(&TOPICS)
        ),
        25 => format!(
            "Next steps: {} and {} before {}.",
            rng.pick(&ACTIONS),
            rng.pick(&ACTIONS),
            Date::random(rng).long()
        ),
        26 => format!(
            "{} from {} mentioned that a competitor offered {} at a lower price.",
            cx.contact(rng).first,
            cust.name,
            rng.pick(&TOPICS)
        ),
        27 => format!(
            "Budget: {} approved {} for {} tooling; the rest waits for the {} forecast.",
            name(&EMPLOYEES[23]),
            money(rng.range(5, 250) as u32 * 1000),
            rng.pick(&TEAMS),
            rng.pick(&["Q1", "Q2", "Q3", "Q4"])
        ),
        28 => format!(
            "Side note: the {} item from the {} is still open.",
            rng.pick(&RARE),
            rng.pick(&[
                "offsite",
                "retro",
                "hackathon",
                "all-hands",
                "board meeting"
            ])
        ),
        _ => format!(
            "{} summarised: {} is {}, {} is {}, and {} is {}.",
            name(cx.person(rng)),
            rng.pick(&NOUNS),
            rng.pick(&ADJECTIVES),
            rng.pick(&NOUNS),
            rng.pick(&ADJECTIVES),
            rng.pick(&NOUNS),
            rng.pick(&ADJECTIVES)
        ),
    }
}

/// A paragraph of 2-6 sentences.
fn paragraph(rng: &mut Rng, cx: &Ctx, out: &mut String) {
    let n = rng.range(2, 6);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&sentence(rng, cx));
    }
    out.push('\n');
}

/// Target body size in bytes: log-uniform 250..4000, or 10-30 KB for long documents.
fn target_size(rng: &mut Rng, long: bool) -> usize {
    if long {
        rng.range(10_000, 30_000)
    } else {
        (250.0 * 16f64.powf(rng.unit())) as usize
    }
}

#[derive(Clone, Copy)]
enum DocType {
    MeetingNotes,
    WeeklyReport,
    Spec,
    AccountBrief,
    Wiki,
    Memo,
    MailExport,
    Source,
}

/// Writes document `index` into `out`; returns its path relative to the corpus root.
fn document(seed: u64, index: usize, out: &mut String) -> PathBuf {
    let mut rng = Rng::for_document(seed, index);
    let cx = Ctx::new(&mut rng);
    // About 1.5% of documents are long; fixed positions so that small corpora have some too.
    let long = index % 67 == 3;
    let kind = if long {
        match index % 3 {
            0 => DocType::Spec,
            1 => DocType::AccountBrief,
            _ => DocType::WeeklyReport,
        }
    } else {
        match rng.below(100) {
            0..=29 => DocType::MeetingNotes,
            30..=39 => DocType::WeeklyReport,
            40..=49 => DocType::Spec,
            50..=59 => DocType::AccountBrief,
            60..=71 => DocType::Wiki,
            72..=84 => DocType::Memo,
            85..=94 => DocType::MailExport,
            _ => DocType::Source,
        }
    };
    let target = target_size(&mut rng, long);
    match kind {
        DocType::MeetingNotes => meeting_notes(&mut rng, &cx, index, target, out),
        DocType::WeeklyReport => weekly_report(&mut rng, &cx, index, target, out),
        DocType::Spec => spec(&mut rng, &cx, index, target, out),
        DocType::AccountBrief => account_brief(&mut rng, &cx, index, target, out),
        DocType::Wiki => wiki(&mut rng, &cx, index, target, out),
        DocType::Memo => memo(&mut rng, &cx, index, target, out),
        DocType::MailExport => mail_export(&mut rng, &cx, index, target, out),
        DocType::Source => source(&mut rng, &cx, index, target, out),
    }
}

fn fill(rng: &mut Rng, cx: &Ctx, target: usize, out: &mut String) {
    while out.len() < target {
        paragraph(rng, cx, out);
        out.push('\n');
    }
}

fn meeting_notes(
    rng: &mut Rng,
    cx: &Ctx,
    index: usize,
    target: usize,
    out: &mut String,
) -> PathBuf {
    let cust = cx.cust();
    let kind = rng.pick(&[
        "sync",
        "QBR prep",
        "pipeline review",
        "call",
        "design review",
        "check-in",
        "escalation call",
        "kickoff",
    ]);
    let title = match rng.below(3) {
        0 => format!("{} {}: {}", cust.name, kind, cx.topic),
        1 => format!("{} {} {}", cust.name, cx.deal().kind, kind),
        _ => format!("Project {} {} ({})", cx.proj().code, kind, cx.topic),
    };
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(out, "Date: {}  ", cx.date.iso());
    out.push_str("Attendees: ");
    for (i, &p) in cx.people.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} <{}>", name(&EMPLOYEES[p]), email(&EMPLOYEES[p]));
    }
    if rng.chance(60) {
        let ct = cx.contact(rng);
        let _ = write!(
            out,
            ", {} {} <{}>",
            ct.first,
            ct.last,
            contact_email(ct, cust)
        );
    }
    out.push_str("\n\n## Agenda\n\n");
    for _ in 0..rng.range(2, 4) {
        let _ = writeln!(out, "- {}", capitalise(rng.word(&TOPICS)));
    }
    out.push_str("\n## Notes\n\n");
    let body_target = target.saturating_sub(200).max(out.len() + 1);
    fill(rng, cx, body_target, out);
    out.push_str("## Action items\n\n");
    for _ in 0..rng.range(1, 4) {
        let p = cx.person(rng);
        let _ = writeln!(
            out,
            "- [ ] {} ({}): {}",
            name(p),
            email(p),
            rng.pick(&ACTIONS)
        );
    }
    PathBuf::from(format!(
        "notes/{}/{:02}/{}-{}-{index:06}.md",
        cx.date.year,
        cx.date.month,
        cx.date.iso(),
        slug(&title)
    ))
}

fn weekly_report(
    rng: &mut Rng,
    cx: &Ctx,
    index: usize,
    target: usize,
    out: &mut String,
) -> PathBuf {
    let team = rng.pick(&TEAMS);
    let week = cx.date.week();
    let author = cx.person(rng);
    let _ = writeln!(
        out,
        "# {team} weekly report, {} week {week}\n\nAuthor: {} ({})\n",
        cx.date.year,
        name(author),
        email(author)
    );
    let sections = [
        "Highlights",
        "Lowlights",
        "Customers",
        "Projects",
        "Metrics",
        "Next week",
    ];
    let per_section = (target / sections.len()).max(120);
    for s in sections {
        let _ = writeln!(out, "## {s}\n");
        let end = out.len() + per_section;
        match s {
            "Metrics" => {
                out.push_str("| metric | value | change |\n|---|---|---|\n");
                for _ in 0..rng.range(3, 6) {
                    let _ = writeln!(
                        out,
                        "| {} {} | {} | {}{}% |",
                        rng.pick(&ADJECTIVES),
                        rng.pick(&NOUNS),
                        rng.range(1, 9999),
                        rng.pick(&["+", "-"]),
                        rng.range(0, 40)
                    );
                }
                out.push('\n');
            }
            _ => fill(rng, cx, end, out),
        }
    }
    PathBuf::from(format!(
        "reports/weekly/{}-W{week:02}/{}-{index:06}.md",
        cx.date.year,
        slug(team)
    ))
}

fn spec(rng: &mut Rng, cx: &Ctx, index: usize, target: usize, out: &mut String) -> PathBuf {
    let proj = cx.proj();
    let what = rng.pick(&[
        "design",
        "RFC",
        "technical spec",
        "rollout plan",
        "requirements",
        "architecture notes",
    ]);
    let title = format!("Project {}: {} {}", proj.code, cx.topic, what);
    let lead = &EMPLOYEES[proj.lead];
    let _ = writeln!(
        out,
        "# {title}\n\nOwner: {} ({})  \nStatus: {}  \nLast updated: {}\n",
        name(lead),
        email(lead),
        rng.pick(&[
            "draft",
            "in review",
            "approved",
            "superseded",
            "implemented"
        ]),
        cx.date.iso()
    );
    let sections = [
        "Summary",
        "Background",
        "Goals",
        "Non-goals",
        "Design",
        "Alternatives considered",
        "Risks",
        "Timeline",
    ];
    let per_section = (target / sections.len()).max(100);
    for s in sections {
        let _ = writeln!(out, "## {s}\n");
        if s == "Summary" {
            let _ = writeln!(
                out,
                "Project {} is {}. It was requested by {} and is tracked against the {} {}.\n",
                proj.code,
                proj.summary,
                cx.cust().name,
                cx.cust().name,
                cx.deal().kind
            );
        }
        if s == "Goals" || s == "Non-goals" || s == "Timeline" {
            for _ in 0..rng.range(2, 5) {
                let _ = writeln!(
                    out,
                    "- {} the {} {} by {}",
                    capitalise(rng.word(&[
                        "ship", "measure", "replace", "document", "simplify", "remove"
                    ])),
                    rng.pick(&ADJECTIVES),
                    rng.pick(&NOUNS),
                    Date::random(rng).iso()
                );
            }
            out.push('\n');
        } else {
            let end = out.len() + per_section;
            fill(rng, cx, end, out);
        }
    }
    PathBuf::from(format!(
        "projects/{}/specs/{}-{index:06}.md",
        slug(proj.code),
        slug(&format!("{} {}", cx.topic, what))
    ))
}

fn account_brief(
    rng: &mut Rng,
    cx: &Ctx,
    index: usize,
    target: usize,
    out: &mut String,
) -> PathBuf {
    let cust = cx.cust();
    let owner = &EMPLOYEES[cust.owner];
    let csm = &EMPLOYEES[cust.csm];
    let _ = writeln!(
        out,
        "# {} account brief ({})\n\nIndustry: {}  \nHeadquarters: {}  \nDomain: {}  \nAccount owner: {} <{}>  \nCustomer success: {} <{}>\n",
        cust.name,
        cx.date.iso(),
        cust.industry,
        cust.city,
        cust.domain,
        name(owner),
        email(owner),
        name(csm),
        email(csm)
    );
    out.push_str("## Contacts\n\n");
    for ct in &cust.contacts {
        let _ = writeln!(
            out,
            "- {} {}, {} <{}>",
            ct.first,
            ct.last,
            ct.title,
            contact_email(ct, cust)
        );
    }
    out.push_str("\n## Open deals\n\n");
    for deal in &cust.deals {
        let _ = writeln!(
            out,
            "- {} {}: {} for {}, expected close {}",
            cust.name,
            deal.kind,
            money(deal.amount),
            deal.product,
            deal.close
        );
    }
    let _ = writeln!(
        out,
        "\n## Key concern: {}\n\n{} keeps coming back to {}. ",
        cust.concern, cust.name, cust.concern
    );
    fill(rng, cx, target.saturating_sub(300).max(out.len() + 1), out);
    out.push_str("## History\n\n");
    let end = out.len() + target / 4;
    fill(rng, cx, end, out);
    PathBuf::from(format!(
        "customers/{}/{}/account-brief-{}-{index:06}.md",
        cust.slug,
        cx.date.year,
        cx.date.iso()
    ))
}

fn escape_html(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(ch),
        }
    }
}

fn wiki(rng: &mut Rng, cx: &Ctx, index: usize, target: usize, out: &mut String) -> PathBuf {
    let section = *rng.pick(&WIKI_SECTIONS);
    let title = format!(
        "{} {}",
        capitalise(cx.topic),
        rng.pick(&[
            "guide",
            "FAQ",
            "how-to",
            "overview",
            "policy",
            "playbook",
            "checklist"
        ])
    );
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    escape_html(&title, out);
    out.push_str(" | Halcyon Works wiki</title>\n</head>\n<body>\n<h1>");
    escape_html(&title, out);
    out.push_str("</h1>\n");
    let author = cx.person(rng);
    let _ = writeln!(
        out,
        "<p class=\"meta\">Maintained by {} ({}), updated {}</p>",
        name(author),
        email(author),
        cx.date.iso()
    );
    let mut para = String::new();
    while out.len() < target {
        if rng.chance(25) {
            out.push_str("<h2>");
            escape_html(&capitalise(rng.word(&TOPICS)), out);
            out.push_str("</h2>\n");
        }
        if rng.chance(30) {
            out.push_str("<ul>\n");
            for _ in 0..rng.range(2, 5) {
                out.push_str("<li>");
                escape_html(&capitalise(rng.word(&ACTIONS)), out);
                out.push_str("</li>\n");
            }
            out.push_str("</ul>\n");
        }
        para.clear();
        paragraph(rng, cx, &mut para);
        out.push_str("<p>");
        escape_html(para.trim_end(), out);
        out.push_str("</p>\n");
    }
    out.push_str("</body>\n</html>\n");
    PathBuf::from(format!("wiki/{section}/{}-{index:06}.html", slug(&title)))
}

fn memo(rng: &mut Rng, cx: &Ctx, index: usize, target: usize, out: &mut String) -> PathBuf {
    let from = cx.person(rng);
    let subject = format!(
        "{} {}",
        capitalise(cx.topic),
        rng.pick(&[
            "update", "reminder", "decision", "heads-up", "proposal", "summary"
        ])
    );
    let _ = writeln!(
        out,
        "MEMO\n\nFrom: {} <{}>\nTo: {} team\nDate: {}\nSubject: {subject}\n",
        name(from),
        email(from),
        if rng.chance(50) {
            from.team
        } else {
            *rng.pick(&TEAMS)
        },
        cx.date.long()
    );
    fill(rng, cx, target, out);
    let _ = writeln!(out, "-- {}, {}", from.first, from.title);
    PathBuf::from(format!(
        "memos/{}/{:02}/{}-{index:06}.txt",
        cx.date.year,
        cx.date.month,
        slug(&subject)
    ))
}

fn mail_export(rng: &mut Rng, cx: &Ctx, index: usize, target: usize, out: &mut String) -> PathBuf {
    let cust = cx.cust();
    let ours = cx.person(rng);
    let ct = cx.contact(rng);
    let subject = format!(
        "{}{} {} - {}",
        rng.pick(&["", "Re: ", "Fwd: ", "Re: Re: "]),
        cust.name,
        cx.deal().kind,
        cx.topic
    );
    let inbound = rng.chance(50);
    let (from, to) = if inbound {
        (
            format!("{} {} <{}>", ct.first, ct.last, contact_email(ct, cust)),
            format!("{} <{}>", name(ours), email(ours)),
        )
    } else {
        (
            format!("{} <{}>", name(ours), email(ours)),
            format!("{} {} <{}>", ct.first, ct.last, contact_email(ct, cust)),
        )
    };
    let _ = writeln!(
        out,
        "From: {from}\nTo: {to}\nDate: {}\nSubject: {subject}\n",
        cx.date.long()
    );
    let _ = writeln!(out, "Hi {},\n", if inbound { ours.first } else { ct.first });
    fill(rng, cx, target, out);
    let _ = writeln!(
        out,
        "Best,\n{}",
        if inbound {
            format!("{} {}\n{}, {}", ct.first, ct.last, ct.title, cust.name)
        } else {
            format!("{}\n{}, {ORG_NAME}", name(ours), ours.title)
        }
    );
    PathBuf::from(format!(
        "mail/{}/{}-{}-{index:06}.txt",
        cust.slug,
        cx.date.iso(),
        slug(&subject)
    ))
}

const FUNCS: [&str; 12] = [
    "retry_with_backoff",
    "compute_invoice",
    "parse_config",
    "flush_queue",
    "rebuild_index",
    "validate_token",
    "export_report",
    "apply_discount",
    "sync_tenant",
    "rotate_certificate",
    "score_account",
    "load_fixtures",
];

fn source(rng: &mut Rng, cx: &Ctx, index: usize, target: usize, out: &mut String) -> PathBuf {
    let proj = cx.proj();
    let lead = &EMPLOYEES[proj.lead];
    let module = slug(rng.word(&NOUNS)).replace('-', "_");
    let python = rng.chance(50);
    let target = target.min(6000);
    if python {
        let _ = writeln!(
            out,
            "\"\"\"{} helpers for project {} ({}).\n\nMaintainer: {} <{}>\n\"\"\"\n\nimport json\nimport time\n",
            capitalise(&module),
            proj.code,
            proj.summary,
            name(lead),
            email(lead)
        );
        while out.len() < target {
            let f = rng.pick(&FUNCS);
            let mut doc = String::new();
            paragraph(rng, cx, &mut doc);
            let _ = writeln!(
                out,
                "\ndef {f}(payload, retries={}):\n    \"\"\"{}\"\"\"\n    for attempt in range(retries):\n        result = json.loads(payload)\n        if result.get(\"{}\"):\n            return result\n        time.sleep(2 ** attempt)\n    raise RuntimeError(\"{f} failed for {}\")\n",
                rng.range(1, 5),
                doc.trim_end(),
                slug(rng.word(&NOUNS)).replace('-', "_"),
                cx.cust().name
            );
        }
        PathBuf::from(format!(
            "projects/{}/src/{module}_{index:06}.py",
            slug(proj.code)
        ))
    } else {
        let _ = writeln!(
            out,
            "//! {} for project {} ({}).\n//!\n//! Maintainer: {} <{}>\n\nuse std::time::Duration;\n",
            capitalise(&module),
            proj.code,
            proj.summary,
            name(lead),
            email(lead)
        );
        while out.len() < target {
            let f = rng.pick(&FUNCS);
            let mut doc = String::new();
            paragraph(rng, cx, &mut doc);
            let _ = writeln!(
                out,
                "\n/// {}\npub fn {f}(input: &str, attempts: u32) -> Result<String, String> {{\n    for attempt in 0..attempts {{\n        if input.contains(\"{}\") {{\n            return Ok(input.to_string());\n        }}\n        std::thread::sleep(Duration::from_millis(10 << attempt));\n    }}\n    Err(format!(\"{f} failed for {}\"))\n}}",
                doc.trim_end(),
                slug(rng.word(&NOUNS)),
                cx.cust().name
            );
        }
        PathBuf::from(format!(
            "projects/{}/src/{module}_{index:06}.rs",
            slug(proj.code)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Mail (for `ctx demo`; `ctx bench` indexes documents only).
//
// The same organisation's mailbox as a Maildir++ tree: INBOX plus `.Customers.Acme`-style
// folders. Threads between employees and customer contacts (Message-ID, In-Reply-To, References,
// `Re:` subjects, quoted replies, signatures); some messages are multipart/alternative or
// HTML-only, one is ISO-8859-1 quoted-printable, one thread has an RFC 2047 encoded subject, a
// few carry small text/CSV attachments. Dates lie in the weeks before `today`, so the content
// depends on the seed *and* the date: the same `(seed, today)` gives byte-identical files.

/// What mail to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOptions {
    /// Number of messages to write (0: none).
    pub messages: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// The newest messages are from the days just before this date.
    pub today: time::Date,
    /// A real mailbox's spread (for `ctx bench mail`): dates over three years, and in every
    /// thread (not just the showcases) attachments (CSV, text notes, PDF, PNG), ISO-8859-1
    /// quoted-printable and base64 bodies. Off for the demo, whose mailbox stays small and
    /// fixed.
    pub assorted: bool,
}

impl Default for MailOptions {
    fn default() -> Self {
        MailOptions {
            messages: 150,
            seed: 42,
            today: today_utc(),
            assorted: false,
        }
    }
}

/// What [`generate_mail`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailStats {
    pub messages: usize,
    pub threads: usize,
    pub folders: usize,
    /// Messages left unread in `new/`.
    pub unread: usize,
    pub bytes: u64,
    /// Attachments written (of any type).
    pub attachments: usize,
    /// Those that ctx turns into items (CSV, text, PDF; not PNG).
    pub readable_attachments: usize,
}

/// Today's date in UTC.
pub fn today_utc() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// A person as mail and calendars name them.
#[derive(Clone)]
struct Who {
    first: &'static str,
    name: String,
    email: String,
    title: &'static str,
    org: &'static str,
    /// UTC offset of their mail client, in minutes.
    offset: i32,
}

fn staff(i: usize) -> Who {
    let p = &EMPLOYEES[i];
    Who {
        first: p.first,
        name: name(p),
        email: email(p),
        title: p.title,
        org: ORG_NAME,
        offset: 60,
    }
}

fn client(customer: usize, j: usize) -> Who {
    let cust = &CUSTOMERS[customer];
    let ct = &cust.contacts[j];
    Who {
        first: ct.first,
        name: format!("{} {}", ct.first, ct.last),
        email: contact_email(ct, cust),
        title: ct.title,
        org: cust.name,
        offset: match cust.slug {
            "globex" => 60,
            "hooli" | "stark" | "tyrell" => -480,
            "acme" | "initech" | "soylent" => -360,
            _ => -300,
        },
    }
}

fn mailbox(w: &Who) -> String {
    format!("{} <{}>", w.name, w.email)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Plain,
    Alternative,
    HtmlOnly,
    Latin1,
    /// text/plain, UTF-8, base64 transfer encoding.
    Base64,
}

/// An attachment: file name, content type, bytes.
type AttachmentPart = (String, &'static str, Vec<u8>);

struct Msg {
    from: Who,
    to: Vec<Who>,
    cc: Vec<Who>,
    subject: String,
    encode_subject: bool,
    /// UTC.
    date: time::PrimitiveDateTime,
    id: String,
    parents: Vec<String>,
    body: String,
    format: Format,
    attachment: Option<AttachmentPart>,
    folder: String,
    unread: bool,
    flags: &'static str,
}

/// Writes `options.messages` messages as a Maildir++ tree under `dir` (created if needed).
/// Files with the same names are rewritten only when their content changed; older generated
/// messages (`*.demo` names) that this run does not write are removed, other files are left
/// alone.
pub fn generate_mail(dir: &Path, options: &MailOptions) -> std::io::Result<MailStats> {
    let mut rng = Rng::for_document(options.seed ^ 0x6D61_696C, usize::MAX);
    let assorted = options.assorted.then_some(options.seed ^ 0x6173_736F);
    let mut stats = MailStats::default();
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut folders: HashSet<PathBuf> = HashSet::new();
    let mut seq = 0;
    // One thread at a time, written as it is made: 100,000 messages never sit in memory.
    while seq < options.messages {
        let thread = mail_thread(&mut rng, stats.threads, options.today, assorted);
        stats.threads += 1;
        let room = options.messages - seq;
        for msg in thread.iter().take(room) {
            write_mail(dir, msg, seq, &mut stats, &mut written, &mut folders)?;
            seq += 1;
        }
    }
    stats.folders = folders.len();
    remove_stale_mail(dir, &written)?;
    Ok(stats)
}

/// Writes message number `seq` into its folder (created when new), unless it is there already.
fn write_mail(
    dir: &Path,
    msg: &Msg,
    seq: usize,
    stats: &mut MailStats,
    written: &mut HashSet<PathBuf>,
    folders: &mut HashSet<PathBuf>,
) -> std::io::Result<()> {
    {
        let folder_dir = if msg.folder.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(format!(".{}", msg.folder))
        };
        if folders.insert(folder_dir.clone()) {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(folder_dir.join(sub))?;
            }
        }
        let secs = msg.date.assume_utc().unix_timestamp();
        let path = if msg.unread {
            stats.unread += 1;
            folder_dir.join("new").join(format!("{secs}.{seq}.demo"))
        } else {
            folder_dir
                .join("cur")
                .join(format!("{secs}.{seq}.demo:2,{}", msg.flags))
        };
        let raw = render_message(msg);
        if std::fs::read(&path).ok().as_deref() != Some(raw.as_bytes()) {
            std::fs::write(&path, raw.as_bytes())?;
        }
        stats.messages += 1;
        if let Some((_, content_type, _)) = &msg.attachment {
            stats.attachments += 1;
            stats.readable_attachments += usize::from(!content_type.starts_with("image/"));
        }
        stats.bytes += raw.len() as u64;
        written.insert(path);
    }
    Ok(())
}

/// Removes generated messages (`*.demo` unique names) of `dir`'s folders not in `keep`.
fn remove_stale_mail(dir: &Path, keep: &HashSet<PathBuf>) -> std::io::Result<()> {
    let mut folders = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') && entry.path().is_dir() {
                folders.push(entry.path());
            }
        }
    }
    for folder in folders {
        for sub in ["cur", "new"] {
            let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let unique = name.split(':').next().unwrap_or(&name);
                if unique.ends_with(".demo") && !keep.contains(&entry.path()) {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
    }
    Ok(())
}

fn date_of(d: time::Date) -> Date {
    Date {
        year: d.year() as u32,
        month: u8::from(d.month()) as u32,
        day: u32::from(d.day()),
    }
}

fn customer_folder(customer: usize) -> String {
    let first = CUSTOMERS[customer]
        .name
        .split(' ')
        .next()
        .unwrap_or("Other");
    format!("Customers.{first}")
}

/// What a thread is about: customer, project, topic, deal, our people, their contacts, subject,
/// folder and length.
type ThreadPlan = (
    Option<usize>,
    usize,
    &'static str,
    usize,
    Vec<usize>,
    Vec<usize>,
    String,
    String,
    usize,
);

/// One thread of 1-5 messages. The first threads are fixed showcases. `assorted` (a seed) adds
/// [`MailOptions::assorted`]'s variety from a random stream of its own, so the main stream (and
/// the demo's mailbox) is the same with or without it.
fn mail_thread(rng: &mut Rng, t: usize, today: time::Date, assorted: Option<u64>) -> Vec<Msg> {
    let mut extra = assorted.map(|seed| Rng::for_document(seed, t));
    let days_ago = match t {
        0..=3 => 3 + 4 * t as i64,
        _ => rng.range(2, 60) as i64 + extra.as_mut().map_or(0, |x| x.below(3 * 365) as i64),
    };
    let mut when = (today - time::Duration::days(days_ago))
        .with_hms(
            rng.range(7, 15) as u8,
            rng.range(0, 59) as u8,
            rng.range(0, 59) as u8,
        )
        .expect("valid time");
    let (customer, project, topic, deal, ours, theirs, subject, folder, len): ThreadPlan = match t {
        0 => (
            Some(0),
            2,
            "data residency",
            0,
            vec![1, 4],
            vec![0, 1],
            "Acme Corp renewal: pricing and data residency".into(),
            customer_folder(0),
            4,
        ),
        1 => (
            Some(1),
            1,
            "single sign-on",
            0,
            vec![2, 13],
            vec![1],
            "Globex single sign-on rollout \u{2013} next steps for Z\u{fc}rich".into(),
            customer_folder(1),
            3,
        ),
        2 => (
            None,
            3,
            "pipeline review",
            0,
            vec![0, 1, 2, 3, 23],
            vec![],
            "Pipeline export for Monday's forecast call".into(),
            String::new(),
            2,
        ),
        3 => (
            Some(2),
            8,
            "contract redlines",
            0,
            vec![1, 4, 25],
            vec![1, 0],
            "Initech expansion - order form and redlines".into(),
            customer_folder(2),
            3,
        ),
        _ => {
            let project = rng.below(PROJECTS.len());
            let len = *rng.pick(&[1, 1, 2, 2, 2, 3, 3, 4, 5]);
            if rng.chance(65) {
                let c = if rng.chance(40) {
                    PROJECTS[project].customer
                } else {
                    rng.below(CUSTOMERS.len())
                };
                let cust = &CUSTOMERS[c];
                let deal = rng.below(2);
                let topic = if rng.chance(60) {
                    cust.concern
                } else {
                    *rng.pick(&TOPICS)
                };
                let mut ours = vec![cust.owner, cust.csm];
                if rng.chance(40) {
                    ours.push(PROJECTS[project].lead);
                }
                ours.dedup();
                let theirs = if rng.chance(50) { vec![0] } else { vec![1, 0] };
                let subject = match rng.below(4) {
                    0 => format!("{} {} - {}", cust.name, cust.deals[deal].kind, topic),
                    1 => format!("{}: {}", cust.name, capitalise(topic)),
                    2 => format!("Follow-up: {} and {}", cust.name, topic),
                    _ => format!("{} question from {}", capitalise(topic), cust.name),
                };
                let folder = if rng.chance(70) {
                    customer_folder(c)
                } else {
                    String::new()
                };
                (
                    Some(c),
                    project,
                    topic,
                    deal,
                    ours,
                    theirs,
                    subject,
                    folder,
                    len,
                )
            } else {
                let proj = &PROJECTS[project];
                let topic = if rng.chance(60) {
                    proj.topic
                } else {
                    *rng.pick(&TOPICS)
                };
                let mut ours = vec![proj.lead];
                for _ in 0..rng.range(1, 3) {
                    let p = rng.below(EMPLOYEES.len());
                    if !ours.contains(&p) {
                        ours.push(p);
                    }
                }
                let subject = format!(
                    "Project {}: {} {}",
                    proj.code,
                    topic,
                    rng.pick(&["status", "question", "heads-up", "next steps", "review"])
                );
                let folder = if rng.chance(50) {
                    format!("Projects.{}", proj.code)
                } else {
                    String::new()
                };
                (
                    None,
                    project,
                    topic,
                    rng.below(2),
                    ours,
                    vec![],
                    subject,
                    folder,
                    len,
                )
            }
        }
    };
    let cx = Ctx {
        date: date_of(when.date()),
        customer: customer.unwrap_or(PROJECTS[project].customer),
        deal,
        project,
        topic,
        people: ours.clone(),
    };
    let our_people: Vec<Who> = ours.iter().map(|&i| staff(i)).collect();
    let their_people: Vec<Who> = match customer {
        Some(c) => theirs.iter().map(|&j| client(c, j)).collect(),
        None => Vec::new(),
    };
    let mut out: Vec<Msg> = Vec::with_capacity(len);
    let mut ids: Vec<String> = Vec::new();
    let inbound_first = customer.is_some() && (t == 1 || t == 3 || (t >= 4 && rng.chance(50)));
    for k in 0..len {
        // Customer threads alternate sides; internal ones rotate through the people.
        let (from, to, cc) = if customer.is_some() {
            let ours_turn = (k % 2 == 0) != inbound_first;
            if ours_turn {
                (
                    our_people[0].clone(),
                    vec![their_people[0].clone()],
                    our_people[1..]
                        .iter()
                        .chain(&their_people[1..])
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            } else {
                (
                    their_people[0].clone(),
                    vec![our_people[0].clone()],
                    their_people[1..]
                        .iter()
                        .chain(&our_people[1..])
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            }
        } else {
            let from = our_people[k % our_people.len()].clone();
            let rest: Vec<Who> = our_people
                .iter()
                .filter(|w| w.email != from.email)
                .cloned()
                .collect();
            let (to, cc) = rest.split_at(rest.len().min(2));
            (from, to.to_vec(), cc.to_vec())
        };
        let to_first = to.first().map(|w| w.first).unwrap_or("all");
        let mut body = String::new();
        let _ = writeln!(
            body,
            "{},\n",
            match rng.below(3) {
                0 => format!("Hi {to_first}"),
                1 => format!("Hello {to_first}"),
                _ => to_first.to_string(),
            }
        );
        let opening = showcase_opening(t, k);
        let mut text = String::new();
        if let Some(line) = opening {
            text.push_str(line);
            text.push(' ');
        }
        for _ in 0..rng.range(2, 4) {
            text.push_str(&sentence(rng, &cx));
            text.push(' ');
        }
        wrap(text.trim_end(), 72, &mut body);
        if rng.chance(50) {
            body.push('\n');
            let mut more = String::new();
            for _ in 0..rng.range(1, 3) {
                more.push_str(&sentence(rng, &cx));
                more.push(' ');
            }
            wrap(more.trim_end(), 72, &mut body);
        }
        let _ = write!(
            body,
            "\n{}\n{}\n\n-- \n{}\n{}, {}\n",
            rng.pick(&[
                "Best,",
                "Thanks,",
                "Cheers,",
                "Kind regards,",
                "Best regards,"
            ]),
            from.first,
            from.name,
            from.title,
            from.org
        );
        if let Some(prev) = out.last() {
            let _ = writeln!(
                body,
                "\nOn {}, {} wrote:",
                rfc5322_date(prev.date, prev.from.offset),
                mailbox(&prev.from)
            );
            for line in prev.body.lines() {
                if line.is_empty() || line.starts_with('>') {
                    let _ = writeln!(body, ">{line}");
                } else {
                    let _ = writeln!(body, "> {line}");
                }
            }
        }
        let domain = from.email.rsplit('@').next().unwrap_or(ORG_DOMAIN);
        let secs = when.assume_utc().unix_timestamp();
        let id = format!("{secs}.{t}.{k}.{:08x}@{domain}", rng.next_u64() as u32);
        let format = match (t, k) {
            (0, 1) => Format::Alternative,
            (1, 0) => Format::Latin1,
            (3, 0) => Format::HtmlOnly,
            (0..=3, _) => Format::Plain,
            _ => match rng.below(100) {
                0..=19 => Format::Alternative,
                20..=25 => Format::HtmlOnly,
                _ => Format::Plain,
            },
        };
        let attachment = match (t, k) {
            (0, 2) => Some((
                "acme-renewal-options.csv".to_string(),
                "text/csv",
                "option,term,annual price,discount,data residency\r\nA,1 year,$480000,0%,US only\r\nB,2 years,$456000,5%,US + EU\r\nC,3 years,$432000,10%,US + EU + dedicated region\r\n".into(),
            )),
            (2, 0) => Some((
                format!("pipeline-{}.csv", when.date()),
                "text/csv",
                pipeline_csv().into_bytes(),
            )),
            (3, 1) => Some((
                "initech-redlines.txt".to_string(),
                "text/plain",
                "Initech order form - redlines from legal (Rachel Goldberg)\r\n\r\n1. Section 4.2: liability cap stays at 12 months of fees.\r\n2. Section 7: SOC 2 Type II report shared under NDA, not attached.\r\n3. Seats: 200 additional seats at the current per-seat price.\r\n4. Close date: Q3 2026, signature by Bill Lumbergh (Division VP).\r\n".into(),
            )),
            _ => None,
        };
        let (format, attachment) = match extra.as_mut() {
            Some(x) if t > 3 => assorted_parts(x, format, attachment, &cx, &when),
            _ => (format, attachment),
        };
        let subject_line = if k == 0 {
            subject.clone()
        } else {
            format!("Re: {subject}")
        };
        let ours_sent = from.email.ends_with(ORG_DOMAIN);
        out.push(Msg {
            from,
            to,
            cc,
            subject: subject_line,
            encode_subject: !subject.is_ascii(),
            date: when,
            id: id.clone(),
            parents: ids.clone(),
            body,
            format,
            attachment,
            folder: folder.clone(),
            unread: !ours_sent && k + 1 == len && rng.chance(30),
            flags: if k + 1 < len {
                "RS"
            } else if rng.chance(10) {
                "FS"
            } else {
                "S"
            },
        });
        ids.push(id);
        when += time::Duration::minutes(rng.range(20, 26 * 60) as i64);
    }
    out
}

/// [`MailOptions::assorted`]: some bodies re-encoded (ISO-8859-1 quoted-printable, base64), and
/// about one message in eight with an attachment: a CSV table, a text note, a one-page PDF or a
/// PNG (listed, not extractable).
fn assorted_parts(
    x: &mut Rng,
    format: Format,
    attachment: Option<AttachmentPart>,
    cx: &Ctx,
    when: &time::PrimitiveDateTime,
) -> (Format, Option<AttachmentPart>) {
    let format = match (format, x.below(100)) {
        (Format::Plain, 0..=7) => Format::Latin1,
        (Format::Plain, 8..=13) => Format::Base64,
        (f, _) => f,
    };
    if attachment.is_some() || !x.chance(13) {
        return (format, attachment);
    }
    let day = when.date();
    let cust = &CUSTOMERS[cx.customer];
    let project = &PROJECTS[cx.project];
    let attachment = match x.below(10) {
        0..=3 => {
            let mut csv = String::from("month,customer,seats,amount,status\r\n");
            for i in 0..x.range(3, 24) {
                let _ = write!(
                    csv,
                    "{},{},{},{},{}\r\n",
                    MONTHS[(usize::from(u8::from(day.month())) + i) % 12],
                    cust.name,
                    x.range(5, 500),
                    x.range(1_000, 900_000),
                    x.pick(&["open", "won", "lost", "on hold"])
                );
            }
            (
                format!("{}-{}-{day}.csv", cust.slug, slug(cx.topic)),
                "text/csv",
                csv.into_bytes(),
            )
        }
        4..=6 => {
            let mut note = format!("{} - notes on {}\r\n\r\n", project.code, cx.topic);
            for _ in 0..x.range(2, 8) {
                note.push_str(&sentence(x, cx));
                note.push_str("\r\n");
            }
            (
                format!("notes-{}-{day}.txt", slug(project.code)),
                "text/plain",
                note.into_bytes(),
            )
        }
        7 | 8 => {
            let mut lines = vec![format!(
                "{} {} - {}",
                cust.name, cust.deals[cx.deal].kind, cx.topic
            )];
            for _ in 0..x.range(3, 10) {
                lines.push(sentence(x, cx));
            }
            (
                format!("{}-proposal-{day}.pdf", cust.slug),
                "application/pdf",
                tiny_pdf(&lines),
            )
        }
        _ => {
            let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
            png.extend((0..x.range(2_000, 40_000)).map(|_| x.next_u64() as u8));
            (format!("screenshot-{day}.png"), "image/png", png)
        }
    };
    (format, Some(attachment))
}

/// A valid one-page PDF showing `lines` (Helvetica, ASCII; others become `?`), with a correct
/// cross-reference table so strict readers accept it.
fn tiny_pdf(lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT /F1 11 Tf 50 780 Td 14 TL\n");
    for line in lines {
        content.push('(');
        for ch in line.chars() {
            match ch {
                '(' | ')' | '\\' => {
                    content.push('\\');
                    content.push(ch);
                }
                c if c.is_ascii() && !c.is_ascii_control() => content.push(c),
                _ => content.push('?'),
            }
        }
        content.push_str(") Tj T*\n");
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{object}\nendobj\n", i + 1);
    }
    let xref = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(out, "{offset:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.into_bytes()
}

/// Fixed first sentences of the showcase threads, so the demo queries find them.
fn showcase_opening(t: usize, k: usize) -> Option<&'static str> {
    Some(match (t, k) {
        (0, 0) => {
            "Ahead of the Acme Corp renewal ($480,000 for the Enterprise plan, closing Q2 2026) I wanted to lay out the pricing options and where we are on data residency. We can offer an EU region for your Rotterdam and Munich plants as part of Project Nimbus."
        }
        (0, 1) => {
            "Thanks for the options. Our procurement team prefers a two-year renewal, but only if EU data residency is in the contract and not just on the roadmap."
        }
        (0, 2) => {
            "Attached are the three renewal options as a spreadsheet. Option B (two years, 5% discount) includes EU data residency from day one."
        }
        (0, 3) => {
            "Option B works for us. Let's go through the final paperwork at the monthly review on the second Tuesday; Derek will bring the IT requirements."
        }
        (1, 0) => {
            "Our Z\u{fc}rich office is moving to single sign-on next month. You promised SAML single sign-on with SCIM provisioning for all Globex regions by the end of the quarter, and our caf\u{e9} chat with J\u{fc}rgen suggested Okta groups would be supported too. Can you confirm?"
        }
        (1, 1) => {
            "Confirmed: we committed to SAML single sign-on and SCIM provisioning for every Globex region before the expansion closes, and Project Bluebird ships Okta group sync in the same release."
        }
        (1, 2) => {
            "Great, thank you Sofia. Please have Chloe walk us through the SAML metadata and the SCIM token rotation at the next check-in."
        }
        (2, 0) => {
            "Attached is this week's pipeline export for Monday's forecast call. Please update close dates for your deals before then, especially the Acme renewal and the Initech expansion."
        }
        (2, 1) => {
            "Updated: the Acme renewal is on track for Q2, the Initech expansion moved to Q3 because of the order form redlines."
        }
        (3, 0) => {
            "Please find our comments on the order form for the Initech expansion (200 more seats). Legal wants the liability cap and the SOC 2 report handled before we sign."
        }
        (3, 1) => {
            "Our general counsel Rachel Goldberg reviewed the redlines; her notes are attached. Marcus Chen owns the Initech expansion and we still expect it to close in Q3 2026."
        }
        (3, 2) => {
            "Thanks, this works. Bill Lumbergh will sign once the SOC 2 audit evidence is shared."
        }
        _ => return None,
    })
}

fn pipeline_csv() -> String {
    let mut out = String::from("customer,deal,amount,expected close,owner\r\n");
    for cust in &CUSTOMERS {
        for deal in &cust.deals {
            let _ = write!(
                out,
                "{},{},{},{},{}\r\n",
                cust.name,
                deal.kind,
                deal.amount,
                deal.close,
                name(&EMPLOYEES[cust.owner])
            );
        }
    }
    out
}

/// Appends `text` word-wrapped at `width`, then a newline.
fn wrap(text: &str, width: usize, out: &mut String) {
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.chars().count();
    }
    out.push('\n');
}

const WEEKDAYS_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `Tue, 03 Nov 2026 09:14:00 +0100` for a UTC time shown at `offset` minutes.
pub(crate) fn rfc5322_date(utc: time::PrimitiveDateTime, offset: i32) -> String {
    let local = utc + time::Duration::minutes(i64::from(offset));
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        WEEKDAYS_SHORT[local.weekday().number_days_from_monday() as usize],
        local.day(),
        &MONTHS[u8::from(local.month()) as usize - 1][..3],
        local.year(),
        local.hour(),
        local.minute(),
        local.second(),
        offset.abs() / 60,
        offset.abs() % 60
    )
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 in 76-column CRLF lines.
pub(crate) fn base64_lines(data: &[u8]) -> String {
    let encoded = base64(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// An RFC 2047 encoded word (UTF-8, base64) when `text` is not ASCII.
fn encode_header_text(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64(text.as_bytes()))
    }
}

/// ISO-8859-1 quoted-printable with CRLF line ends (characters beyond Latin-1 become `?`).
fn latin1_qp(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let mut col = 0;
        let chars: Vec<char> = line.chars().collect();
        for (i, &ch) in chars.iter().enumerate() {
            let byte = if (ch as u32) < 256 {
                ch as u32 as u8
            } else {
                b'?'
            };
            let last = i + 1 == chars.len();
            let piece = if byte == b'=' || byte >= 0x80 || (byte == b' ' && last) {
                format!("={byte:02X}")
            } else {
                (byte as char).to_string()
            };
            if col + piece.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            out.push_str(&piece);
            col += piece.len();
        }
        out.push_str("\r\n");
    }
    out
}

/// The transfer encoding of a UTF-8 body part.
fn cte(body: &str) -> &'static str {
    if body.is_ascii() { "7bit" } else { "8bit" }
}

fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 40);
    for line in text.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

fn body_html(body: &str) -> String {
    let mut out = String::from("<html><head><meta charset=\"utf-8\"></head><body>\r\n");
    for para in body.split("\n\n") {
        let para = para.trim_matches('\n');
        if para.is_empty() {
            continue;
        }
        if para.lines().all(|l| l.starts_with('>')) {
            out.push_str("<blockquote>");
            for line in para.lines() {
                escape_html(line.trim_start_matches(['>', ' ']), &mut out);
                out.push_str("<br>\r\n");
            }
            out.push_str("</blockquote>\r\n");
        } else {
            out.push_str("<p>");
            for (i, line) in para.lines().enumerate() {
                if i > 0 {
                    out.push_str("<br>\r\n");
                }
                escape_html(line, &mut out);
            }
            out.push_str("</p>\r\n");
        }
    }
    out.push_str("</body></html>\r\n");
    out
}

/// The raw RFC 5322 message, CRLF line ends, ASCII only.
fn render_message(m: &Msg) -> String {
    let mut out = String::with_capacity(m.body.len() * 2 + 1024);
    let list = |people: &[Who]| {
        people
            .iter()
            .map(mailbox)
            .collect::<Vec<_>>()
            .join(",\r\n ")
    };
    let _ = write!(
        out,
        "Return-Path: <{}>\r\nMessage-ID: <{}>\r\nDate: {}\r\nFrom: {}\r\nTo: {}\r\n",
        m.from.email,
        m.id,
        rfc5322_date(m.date, m.from.offset),
        mailbox(&m.from),
        list(&m.to)
    );
    if !m.cc.is_empty() {
        let _ = write!(out, "Cc: {}\r\n", list(&m.cc));
    }
    let subject = if m.encode_subject {
        match m.subject.strip_prefix("Re: ") {
            Some(rest) => format!("Re: {}", encode_header_text(rest)),
            None => encode_header_text(&m.subject),
        }
    } else {
        m.subject.clone()
    };
    let _ = write!(out, "Subject: {subject}\r\n");
    if let Some(parent) = m.parents.last() {
        let refs: Vec<String> = m.parents.iter().map(|id| format!("<{id}>")).collect();
        let _ = write!(
            out,
            "In-Reply-To: <{parent}>\r\nReferences: {}\r\n",
            refs.join("\r\n ")
        );
    }
    out.push_str("MIME-Version: 1.0\r\n");
    let boundary = |kind: &str| format!("=_{kind}_{}", m.id.split('@').next().unwrap_or("x"));
    // The body part(s), without the outer headers' Content-Type when multipart.
    let text_part = |out: &mut String| match m.format {
        Format::Latin1 => {
            out.push_str("Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
            out.push_str(&latin1_qp(&m.body));
        }
        Format::HtmlOnly => {
            let _ = write!(
                out,
                "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n\r\n",
                cte(&m.body)
            );
            out.push_str(&body_html(&m.body));
        }
        Format::Alternative => {
            let b = boundary("alt");
            let cte = cte(&m.body);
            let _ = write!(
                out,
                "Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{}\r\n--{b}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{}\r\n--{b}--\r\n",
                crlf(&m.body),
                body_html(&m.body)
            );
        }
        Format::Plain => {
            let _ = write!(
                out,
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n\r\n",
                cte(&m.body)
            );
            out.push_str(&crlf(&m.body));
        }
        Format::Base64 => {
            out.push_str("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
            out.push_str(&base64_lines(crlf(&m.body).as_bytes()));
        }
    };
    match &m.attachment {
        None => text_part(&mut out),
        Some((name, content_type, data)) => {
            let b = boundary("mixed");
            let _ = write!(
                out,
                "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--{b}\r\n"
            );
            text_part(&mut out);
            let _ = write!(
                out,
                "\r\n--{b}\r\nContent-Type: {content_type}{}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{b}--\r\n",
                if content_type.starts_with("text/") {
                    "; charset=utf-8"
                } else {
                    ""
                },
                base64_lines(data)
            );
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Calendars (for `ctx demo`).
//
// One `.ics` file per team and per customer with events around `today`: weekly and biweekly
// meetings (some with EXDATE), a monthly second-Tuesday Acme review with attendees and one
// RECURRENCE-ID override, all-day events, Zoom/Meet links, times in TZID=Europe/Berlin and
// TZID=America/New_York without VTIMEZONE blocks. Content depends on the seed and the date.

/// What calendars to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarOptions {
    /// Number of event series (recurring or single) to write, at most about 40.
    pub series: usize,
    pub seed: u64,
    /// The date the meetings are arranged around.
    pub today: time::Date,
}

impl Default for CalendarOptions {
    fn default() -> Self {
        CalendarOptions {
            series: 25,
            seed: 42,
            today: today_utc(),
        }
    }
}

/// What [`generate_calendar`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarStats {
    pub files: usize,
    pub series: usize,
    pub bytes: u64,
}

const BERLIN: &str = "Europe/Berlin";
const NEW_YORK: &str = "America/New_York";

enum When {
    /// Local wall-clock start in `tz`, length in minutes.
    Timed {
        date: time::Date,
        hour: u8,
        minute: u8,
        tz: &'static str,
        minutes: i64,
    },
    AllDay {
        date: time::Date,
        days: i64,
    },
}

struct Override {
    original: time::Date,
    date: time::Date,
    hour: u8,
    note: &'static str,
}

struct Event {
    calendar: &'static str,
    uid: String,
    summary: String,
    description: String,
    location: Option<String>,
    when: When,
    rrule: Option<String>,
    exdates: Vec<time::Date>,
    organizer: Option<Who>,
    attendees: Vec<Who>,
    overrides: Vec<Override>,
    categories: &'static str,
}

fn next_weekday(from: time::Date, day: time::Weekday) -> time::Date {
    let mut d = from;
    while d.weekday() != day {
        d = d.next_day().expect("date in range");
    }
    d
}

/// The `n`th `day` of the month of `date`.
fn nth_weekday(date: time::Date, day: time::Weekday, n: u8) -> time::Date {
    let first = date.replace_day(1).expect("day 1 exists");
    next_weekday(first, day) + time::Duration::weeks(i64::from(n) - 1)
}

fn add_months(date: time::Date, months: i32) -> time::Date {
    let total = date.year() * 12 + i32::from(u8::from(date.month())) - 1 + months;
    let month = time::Month::try_from((total.rem_euclid(12) + 1) as u8).expect("month");
    time::Date::from_calendar_date(total.div_euclid(12), month, 1).expect("date in range")
}

fn zoom(rng: &mut Rng) -> String {
    format!(
        "https://halcyonworks.zoom.us/j/{}{:05}",
        rng.range(81000, 99999),
        rng.range(0, 99999)
    )
}

fn meet(rng: &mut Rng) -> String {
    const L: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    let mut code = String::new();
    for (i, n) in [3, 4, 3].iter().enumerate() {
        if i > 0 {
            code.push('-');
        }
        for _ in 0..*n {
            code.push(L[rng.below(L.len())] as char);
        }
    }
    format!("https://meet.google.com/{code}")
}

fn team_members(team: &str) -> Vec<usize> {
    (0..EMPLOYEES.len())
        .filter(|&i| EMPLOYEES[i].team == team)
        .collect()
}

/// Every series, in the order they are kept when fewer are asked for.
fn calendar_events(rng: &mut Rng, today: time::Date) -> Vec<Event> {
    use time::Weekday::*;
    let start = today - time::Duration::weeks(10);
    let mut ev: Vec<Event> = Vec::new();
    let uid = |cal: &str, n: usize| format!("{cal}-{n:03}@{ORG_DOMAIN}");

    // 1. The Acme monthly review: 2nd Tuesday, New York, with one occurrence moved.
    let first_review = nth_weekday(add_months(today, -3), Tuesday, 2);
    let next_month = nth_weekday(add_months(today, 1), Tuesday, 2);
    let moved_to = next_month + time::Duration::days(1);
    ev.push(Event {
        calendar: "acme",
        uid: uid("acme", 1),
        summary: "Acme Corp monthly review".into(),
        description: "Monthly account review with Acme Corp.\nAgenda: the Acme renewal ($480,000, Enterprise plan, closing Q2 2026), EU data residency (Project Nimbus), open support tickets, next steps.".into(),
        location: Some(zoom(rng)),
        when: When::Timed { date: first_review, hour: 11, minute: 0, tz: NEW_YORK, minutes: 60 },
        rrule: Some("FREQ=MONTHLY;BYDAY=2TU".into()),
        exdates: vec![],
        organizer: Some(staff(1)),
        attendees: vec![staff(1), staff(4), client(0, 0), client(0, 1)],
        overrides: vec![Override {
            original: next_month,
            date: moved_to,
            hour: 14,
            note: "Moved by a day: Janet Morales is travelling on Tuesday. Final renewal paperwork.",
        }],
        categories: "Customer,Acme Corp",
    });
    // 2. Sales pipeline review, weekly on Monday, Berlin, with one holiday skipped.
    let monday = next_weekday(start, Monday);
    let link = meet(rng);
    ev.push(Event {
        calendar: "sales",
        uid: uid("sales", 1),
        summary: "Sales pipeline review".into(),
        description: format!(
            "Weekly forecast call: walk the pipeline export, update close dates.\nJoin: {link}"
        ),
        location: Some("Berlin office, room Elbe".into()),
        when: When::Timed {
            date: monday,
            hour: 16,
            minute: 0,
            tz: BERLIN,
            minutes: 45,
        },
        rrule: Some("FREQ=WEEKLY;BYDAY=MO".into()),
        exdates: vec![monday + time::Duration::weeks(13)],
        organizer: Some(staff(0)),
        attendees: [0, 1, 2, 3, 23].iter().map(|&i| staff(i)).collect(),
        overrides: vec![],
        categories: "Sales",
    });
    // 3. Engineering weekly sync.
    let wednesday = next_weekday(start, Wednesday);
    ev.push(Event {
        calendar: "engineering",
        uid: uid("engineering", 1),
        summary: "Engineering weekly sync".into(),
        description:
            "Project updates (Falcon, Nimbus, Lighthouse, Tidewater), on-call review, hiring plan."
                .into(),
        location: Some(zoom(rng)),
        when: When::Timed {
            date: wednesday,
            hour: 10,
            minute: 0,
            tz: BERLIN,
            minutes: 60,
        },
        rrule: Some("FREQ=WEEKLY;BYDAY=WE".into()),
        exdates: vec![wednesday + time::Duration::weeks(4)],
        organizer: Some(staff(7)),
        attendees: team_members("Engineering").into_iter().map(staff).collect(),
        overrides: vec![],
        categories: "Engineering",
    });
    // 4. Acme renewal negotiation, next week.
    let thursday = next_weekday(today + time::Duration::days(7), Thursday);
    ev.push(Event {
        calendar: "acme",
        uid: uid("acme", 2),
        summary: "Acme Corp renewal negotiation".into(),
        description: "Final pricing for the Acme renewal: option B (two years, 5% discount, EU data residency). Legal reviews the order form.".into(),
        location: Some(zoom(rng)),
        when: When::Timed { date: thursday, hour: 14, minute: 0, tz: NEW_YORK, minutes: 45 },
        rrule: None,
        exdates: vec![],
        organizer: Some(staff(1)),
        attendees: vec![staff(1), staff(0), staff(25), client(0, 0)],
        overrides: vec![],
        categories: "Customer,Acme Corp",
    });
    // 5. Globex SSO check-in, biweekly.
    let tuesday = next_weekday(start, Tuesday);
    let link = meet(rng);
    ev.push(Event {
        calendar: "globex",
        uid: uid("globex", 1),
        summary: "Globex single sign-on rollout check-in".into(),
        description: format!("Project Bluebird for Globex: SAML single sign-on and SCIM provisioning per region.\nGoogle Meet: {link}"),
        location: None,
        when: When::Timed { date: tuesday, hour: 15, minute: 0, tz: BERLIN, minutes: 30 },
        rrule: Some("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU".into()),
        exdates: vec![tuesday + time::Duration::weeks(8)],
        organizer: Some(staff(2)),
        attendees: vec![staff(2), staff(5), staff(13), client(1, 1)],
        overrides: vec![],
        categories: "Customer,Globex",
    });
    // 6. Sprint planning, biweekly.
    ev.push(Event {
        calendar: "engineering",
        uid: uid("engineering", 2),
        summary: "Sprint planning".into(),
        description: "Plan the next two weeks; bring estimates for your project.".into(),
        location: Some("Berlin office, room Spree".into()),
        when: When::Timed {
            date: monday,
            hour: 10,
            minute: 30,
            tz: BERLIN,
            minutes: 90,
        },
        rrule: Some("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO".into()),
        exdates: vec![],
        organizer: Some(staff(8)),
        attendees: [7, 8, 9, 10, 11, 12, 13, 14, 18]
            .iter()
            .map(|&i| staff(i))
            .collect(),
        overrides: vec![],
        categories: "Engineering",
    });
    // 7. All-hands, first Thursday monthly, New York afternoon = Berlin evening.
    ev.push(Event {
        calendar: "company",
        uid: uid("company", 1),
        summary: "Halcyon Works all-hands".into(),
        description: format!(
            "Company update from Victor Novak and Amara Nwosu, then Q&A.\nZoom: {}",
            zoom(rng)
        ),
        location: None,
        when: When::Timed {
            date: nth_weekday(add_months(today, -2), Thursday, 1),
            hour: 11,
            minute: 0,
            tz: NEW_YORK,
            minutes: 60,
        },
        rrule: Some("FREQ=MONTHLY;BYDAY=1TH".into()),
        exdates: vec![],
        organizer: Some(staff(26)),
        attendees: vec![],
        overrides: vec![],
        categories: "Company",
    });
    // 8. Company offsite, all day, two days.
    ev.push(Event {
        calendar: "company",
        uid: uid("company", 2),
        summary: "Company offsite (Lisbon)".into(),
        description: "Two days of planning: roadmap, annual kickoff, team dinners.".into(),
        location: Some("Lisbon".into()),
        when: When::AllDay {
            date: next_weekday(today + time::Duration::days(21), Wednesday),
            days: 2,
        },
        rrule: None,
        exdates: vec![],
        organizer: Some(staff(27)),
        attendees: vec![],
        overrides: vec![],
        categories: "Company",
    });
    // 9. Initech procurement call, next week.
    ev.push(Event {
        calendar: "initech",
        uid: uid("initech", 1),
        summary: "Initech expansion: order form and redlines".into(),
        description: "Walk through the redlines on the Initech order form (200 more seats, close Q3 2026) and the SOC 2 audit evidence.".into(),
        location: Some(zoom(rng)),
        when: When::Timed { date: next_weekday(today + time::Duration::days(7), Tuesday), hour: 10, minute: 0, tz: NEW_YORK, minutes: 45 },
        rrule: None,
        exdates: vec![],
        organizer: Some(staff(1)),
        attendees: vec![staff(1), staff(4), staff(25), client(2, 0), client(2, 1)],
        overrides: vec![],
        categories: "Customer,Initech",
    });
    // 10. SOC 2 audit fieldwork, all day, three days.
    ev.push(Event {
        calendar: "engineering",
        uid: uid("engineering", 3),
        summary: "SOC 2 audit fieldwork (Project Lighthouse)".into(),
        description: "Auditors on site; Chloe Dubois coordinates the audit evidence.".into(),
        location: Some("Berlin office".into()),
        when: When::AllDay {
            date: next_weekday(today + time::Duration::days(10), Monday),
            days: 3,
        },
        rrule: None,
        exdates: vec![],
        organizer: Some(staff(13)),
        attendees: vec![staff(13), staff(12), staff(25)],
        overrides: vec![],
        categories: "Engineering,Security",
    });
    // 11-19. Check-ins with the other customers.
    for (c, cust) in CUSTOMERS.iter().enumerate().skip(3) {
        let day = *rng.pick(&[Monday, Tuesday, Wednesday, Thursday, Friday]);
        let biweekly = rng.chance(50);
        let first = next_weekday(start + time::Duration::days(rng.range(0, 6) as i64), day);
        let code =
            ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][day.number_days_from_monday() as usize];
        let link = if rng.chance(50) { zoom(rng) } else { meet(rng) };
        ev.push(Event {
            calendar: cust.slug,
            uid: uid(cust.slug, 1),
            summary: format!(
                "{} {} check-in",
                cust.name,
                if biweekly { "biweekly" } else { "weekly" }
            ),
            description: format!(
                "Standing call with {} about {} and the {} {}.\nJoin: {link}",
                cust.name, cust.concern, cust.name, cust.deals[0].kind
            ),
            location: Some(link.clone()),
            when: When::Timed {
                date: first,
                hour: rng.range(9, 12) as u8,
                minute: *rng.pick(&[0, 30]),
                tz: NEW_YORK,
                minutes: 30,
            },
            rrule: Some(if biweekly {
                format!("FREQ=WEEKLY;INTERVAL=2;BYDAY={code}")
            } else {
                format!("FREQ=WEEKLY;BYDAY={code}")
            }),
            exdates: if rng.chance(50) {
                vec![first + time::Duration::weeks(6)]
            } else {
                vec![]
            },
            organizer: Some(staff(cust.csm)),
            attendees: vec![
                staff(cust.owner),
                staff(cust.csm),
                client(c, 0),
                client(c, 1),
            ],
            overrides: vec![],
            categories: "Customer",
        });
    }
    // 20-. Team rituals.
    let rituals: [(&str, &str, &str, time::Weekday, u8, &str, usize); 8] = [
        (
            "customer-success",
            "Support escalation review",
            "Customer Success",
            Thursday,
            10,
            NEW_YORK,
            4,
        ),
        (
            "product",
            "Roadmap planning",
            "Product",
            Tuesday,
            14,
            BERLIN,
            17,
        ),
        (
            "product",
            "Design critique",
            "Product",
            Friday,
            11,
            BERLIN,
            19,
        ),
        (
            "engineering",
            "On-call handoff",
            "Engineering",
            Friday,
            9,
            NEW_YORK,
            12,
        ),
        (
            "company",
            "Leadership staff meeting",
            "Executive",
            Monday,
            9,
            NEW_YORK,
            26,
        ),
        (
            "customer-success",
            "Customer health score review",
            "Customer Success",
            Wednesday,
            15,
            BERLIN,
            4,
        ),
        ("sales", "Deal desk", "Sales", Thursday, 16, BERLIN, 0),
        (
            "engineering",
            "Project Falcon design review",
            "Engineering",
            Thursday,
            15,
            BERLIN,
            8,
        ),
    ];
    for (n, (cal, summary, team, day, hour, tz, organizer)) in rituals.into_iter().enumerate() {
        let first = next_weekday(start, day);
        let mut attendees: Vec<Who> = team_members(team).into_iter().map(staff).collect();
        if attendees.is_empty() {
            attendees.push(staff(organizer));
        }
        ev.push(Event {
            calendar: cal,
            uid: uid(cal, 10 + n),
            summary: summary.into(),
            description: format!("{summary} for the {team} team. Notes go to the wiki."),
            location: Some(if n % 2 == 0 { zoom(rng) } else { meet(rng) }),
            when: When::Timed {
                date: first,
                hour,
                minute: 0,
                tz,
                minutes: 45,
            },
            rrule: Some(format!(
                "FREQ=WEEKLY;{}BYDAY={}",
                if n % 3 == 1 { "INTERVAL=2;" } else { "" },
                ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][day.number_days_from_monday() as usize]
            )),
            exdates: vec![],
            organizer: Some(staff(organizer)),
            attendees,
            overrides: vec![],
            categories: "Team",
        });
    }
    // Public holidays, all day.
    ev.push(Event {
        calendar: "company",
        uid: uid("company", 3),
        summary: "Office closed (public holiday)".into(),
        description: "Berlin and New York offices closed.".into(),
        location: None,
        when: When::AllDay {
            date: monday + time::Duration::weeks(13),
            days: 1,
        },
        rrule: None,
        exdates: vec![],
        organizer: None,
        attendees: vec![],
        overrides: vec![],
        categories: "Holiday",
    });
    ev
}

/// Writes `options.series` event series as `.ics` files (one per team or customer) under `dir`.
pub fn generate_calendar(dir: &Path, options: &CalendarOptions) -> std::io::Result<CalendarStats> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::for_document(options.seed ^ 0x0063_616C, usize::MAX);
    let mut events = calendar_events(&mut rng, options.today);
    events.truncate(options.series);
    let mut files: Vec<&'static str> = Vec::new();
    for e in &events {
        if !files.contains(&e.calendar) {
            files.push(e.calendar);
        }
    }
    let stamp = format!(
        "{:04}{:02}{:02}T080000Z",
        options.today.year(),
        u8::from(options.today.month()),
        options.today.day()
    );
    let mut stats = CalendarStats {
        series: events.len(),
        ..CalendarStats::default()
    };
    for cal in files {
        let title = CUSTOMERS
            .iter()
            .find(|c| c.slug == cal)
            .map(|c| format!("{ORG_NAME}: {}", c.name))
            .unwrap_or_else(|| format!("{ORG_NAME}: {}", capitalise(&cal.replace('-', " "))));
        let mut out = String::new();
        for line in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Halcyon Works//ctx demo//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
        ] {
            out.push_str(line);
            out.push_str("\r\n");
        }
        ical_line(&mut out, &format!("X-WR-CALNAME:{}", ical_text(&title)));
        for e in events.iter().filter(|e| e.calendar == cal) {
            render_event(&mut out, e, &stamp);
        }
        out.push_str("END:VCALENDAR\r\n");
        let path = dir.join(format!("{cal}.ics"));
        if std::fs::read(&path).ok().as_deref() != Some(out.as_bytes()) {
            std::fs::write(&path, out.as_bytes())?;
        }
        stats.files += 1;
        stats.bytes += out.len() as u64;
    }
    Ok(stats)
}

pub(crate) fn ical_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            _ => out.push(ch),
        }
    }
    out
}

/// Appends a content line folded at 75 octets.
pub(crate) fn ical_line(out: &mut String, line: &str) {
    let mut col = 0;
    for ch in line.chars() {
        if col + ch.len_utf8() > 75 {
            out.push_str("\r\n ");
            col = 1;
        }
        out.push(ch);
        col += ch.len_utf8();
    }
    out.push_str("\r\n");
}

fn ical_date(d: time::Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

fn ical_person(prop: &str, w: &Who, attendee: bool) -> String {
    let extra = if attendee {
        ";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED"
    } else {
        ""
    };
    format!("{prop};CN=\"{}\"{extra}:mailto:{}", w.name, w.email)
}

fn render_event(out: &mut String, e: &Event, stamp: &str) {
    let timed = |date: time::Date, hour: u8, minute: u8, tz: &str| {
        format!(";TZID={tz}:{}T{hour:02}{minute:02}00", ical_date(date))
    };
    let common = |out: &mut String, summary: &str, description: &str| {
        ical_line(out, &format!("UID:{}", e.uid));
        ical_line(out, &format!("DTSTAMP:{stamp}"));
        ical_line(out, &format!("SUMMARY:{}", ical_text(summary)));
        ical_line(out, &format!("DESCRIPTION:{}", ical_text(description)));
        if let Some(location) = &e.location {
            ical_line(out, &format!("LOCATION:{}", ical_text(location)));
        }
        if let Some(org) = &e.organizer {
            ical_line(out, &ical_person("ORGANIZER", org, false));
        }
        for a in &e.attendees {
            ical_line(out, &ical_person("ATTENDEE", a, true));
        }
        ical_line(out, &format!("CATEGORIES:{}", e.categories));
        ical_line(out, "STATUS:CONFIRMED");
    };
    out.push_str("BEGIN:VEVENT\r\n");
    common(out, &e.summary, &e.description);
    match e.when {
        When::Timed {
            date,
            hour,
            minute,
            tz,
            minutes,
        } => {
            let end = date.with_hms(hour, minute, 0).expect("valid time")
                + time::Duration::minutes(minutes);
            ical_line(out, &format!("DTSTART{}", timed(date, hour, minute, tz)));
            ical_line(
                out,
                &format!("DTEND{}", timed(end.date(), end.hour(), end.minute(), tz)),
            );
            if !e.exdates.is_empty() {
                let list: Vec<String> = e
                    .exdates
                    .iter()
                    .map(|d| format!("{}T{hour:02}{minute:02}00", ical_date(*d)))
                    .collect();
                ical_line(out, &format!("EXDATE;TZID={tz}:{}", list.join(",")));
            }
        }
        When::AllDay { date, days } => {
            ical_line(out, &format!("DTSTART;VALUE=DATE:{}", ical_date(date)));
            ical_line(
                out,
                &format!(
                    "DTEND;VALUE=DATE:{}",
                    ical_date(date + time::Duration::days(days))
                ),
            );
            ical_line(out, "TRANSP:TRANSPARENT");
        }
    }
    if let Some(rule) = &e.rrule {
        ical_line(out, &format!("RRULE:{rule}"));
    }
    out.push_str("END:VEVENT\r\n");
    for o in &e.overrides {
        let When::Timed {
            hour,
            minute,
            tz,
            minutes,
            ..
        } = e.when
        else {
            continue;
        };
        out.push_str("BEGIN:VEVENT\r\n");
        common(out, &e.summary, &format!("{}\n{}", o.note, e.description));
        ical_line(
            out,
            &format!("RECURRENCE-ID{}", timed(o.original, hour, minute, tz)),
        );
        let end = o.date.with_hms(o.hour, minute, 0).expect("valid time")
            + time::Duration::minutes(minutes);
        ical_line(
            out,
            &format!("DTSTART{}", timed(o.date, o.hour, minute, tz)),
        );
        ical_line(
            out,
            &format!("DTEND{}", timed(end.date(), end.hour(), end.minute(), tz)),
        );
        ical_line(out, "SEQUENCE:1");
        out.push_str("END:VEVENT\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_path_buf();
                    out.push((rel, std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ctx-corpus-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn same_seed_gives_identical_files() {
        let (a, b, c) = (scratch("a"), scratch("b"), scratch("c"));
        let options = CorpusOptions::default();
        let stats_a = generate(&a, &options).unwrap();
        let stats_b = generate(&b, &options).unwrap();
        assert_eq!(stats_a, stats_b);
        assert_eq!(stats_a.files, 300);
        let files_a = read_all(&a);
        assert_eq!(files_a.len(), 300, "file names must be unique");
        assert_eq!(files_a, read_all(&b));
        assert_eq!(
            stats_a.bytes,
            files_a.iter().map(|(_, f)| f.len() as u64).sum::<u64>()
        );

        let other = generate(&c, &CorpusOptions { seed: 7, ..options }).unwrap();
        assert_eq!(other.files, 300);
        assert_ne!(files_a, read_all(&c));

        // Variety: several formats, some long files, small files, titles.
        let ext = |e: &str| {
            files_a
                .iter()
                .filter(|(p, _)| p.extension().is_some_and(|x| x == e))
                .count()
        };
        for e in ["md", "html", "txt"] {
            assert!(ext(e) > 10, "{e}: {}", ext(e));
        }
        assert!(ext("rs") + ext("py") > 0);
        let sizes: Vec<usize> = files_a.iter().map(|(_, f)| f.len()).collect();
        assert!(sizes.iter().any(|&s| s > 10_000));
        assert!(
            sizes.iter().all(|&s| (150..=40_000).contains(&s)),
            "{sizes:?}"
        );
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((1200..=3500).contains(&mean), "mean size {mean}");
        for dir in [a, b, c] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn test_day() -> time::Date {
        time::Date::from_calendar_date(2026, time::Month::November, 28).unwrap()
    }

    #[test]
    fn mail_is_deterministic_and_parses() {
        use ctx_connector_mail::message::{MailLimits, parse_message};
        let (a, b, c) = (scratch("mail-a"), scratch("mail-b"), scratch("mail-c"));
        let options = MailOptions {
            today: test_day(),
            ..MailOptions::default()
        };
        let stats = generate_mail(&a, &options).unwrap();
        assert_eq!(stats, generate_mail(&b, &options).unwrap());
        assert_eq!(stats.messages, 150);
        assert!(
            stats.threads >= 40 && stats.folders >= 5 && stats.unread > 0,
            "{stats:?}"
        );
        let files = read_all(&a);
        assert_eq!(files.len(), 150);
        assert_eq!(files, read_all(&b));
        // Regenerating in place changes nothing and leaves no stale files.
        generate_mail(&a, &options).unwrap();
        assert_eq!(read_all(&a), files);
        let other = MailOptions {
            seed: 7,
            ..options.clone()
        };
        generate_mail(&c, &other).unwrap();
        assert_ne!(read_all(&c), files);
        // A later day in the same directory replaces the generated messages.
        let later = MailOptions {
            today: test_day().next_day().unwrap(),
            ..options.clone()
        };
        generate_mail(&c, &later).unwrap();
        assert_eq!(read_all(&c).len(), 150);

        let limits = MailLimits::default();
        let (mut replies, mut attachments, mut html, mut latin1, mut encoded) = (0, 0, 0, 0, 0);
        let mut acme_thread = 0;
        for (path, raw) in &files {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(name.contains(".demo"), "{name}");
            let in_cur = path.parent().unwrap().ends_with("cur");
            assert_eq!(in_cur, name.contains(":2,"), "{path:?}");
            assert!(
                !raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
                "bare LF in {path:?}"
            );
            let m = parse_message(raw, &limits).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert!(
                !m.subject.is_empty() && m.date_ms.is_some() && m.message_id.is_some(),
                "{path:?}"
            );
            assert!(
                m.from[0].name.is_some() && m.from[0].email.is_some(),
                "{path:?}"
            );
            assert!(!m.to.is_empty(), "{path:?}");
            assert!(!m.body.trim().is_empty(), "{path:?}");
            let text = String::from_utf8_lossy(raw);
            if !m.in_reply_to.is_empty() {
                replies += 1;
                assert!(m.subject.starts_with("Re: "), "{}", m.subject);
                assert!(
                    m.body.contains(" wrote:\n> ") || m.body.contains(" wrote:\n>"),
                    "{}",
                    m.body
                );
                assert_eq!(m.references.last(), m.in_reply_to.first());
            }
            if !m.attachments.is_empty() {
                attachments += 1;
                let att = &m.attachments[0];
                assert!(
                    att.text
                        .as_deref()
                        .is_some_and(|t| t.contains(',') || t.contains("Initech")),
                    "{att:?}"
                );
            }
            if text.contains("Content-Type: text/html") && !text.contains("text/plain") {
                html += 1;
            }
            if text.contains("charset=ISO-8859-1") {
                latin1 += 1;
                assert!(
                    m.body.contains("Z\u{fc}rich") && m.body.contains("caf\u{e9}"),
                    "{}",
                    m.body
                );
            }
            if text.contains("Subject: =?UTF-8?B?") || text.contains("Subject: Re: =?UTF-8?B?") {
                encoded += 1;
                assert!(m.subject.contains("Z\u{fc}rich"), "{}", m.subject);
            }
            if m.subject.contains("Acme Corp renewal") {
                acme_thread += 1;
                assert!(path.starts_with(".Customers.Acme"), "{path:?}");
            }
        }
        assert!(replies > 40, "{replies}");
        assert!(attachments >= 3, "{attachments}");
        assert!(
            html >= 1 && latin1 == 1 && encoded >= 2,
            "{html} {latin1} {encoded}"
        );
        assert_eq!(acme_thread, 4);
        for dir in [a, b, c] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn assorted_mail_has_every_kind_of_part_and_counts_what_ctx_reads() {
        use ctx_connector_mail::message::{MailLimits, parse_message};
        let dir = scratch("mail-assorted");
        let options = MailOptions {
            messages: 600,
            today: test_day(),
            assorted: true,
            ..MailOptions::default()
        };
        let stats = generate_mail(&dir, &options).unwrap();
        assert_eq!(stats.messages, 600);
        // The demo's own stream is untouched: the same subjects in the same order.
        let plain = scratch("mail-plain");
        generate_mail(
            &plain,
            &MailOptions {
                assorted: false,
                ..options.clone()
            },
        )
        .unwrap();
        let limits = MailLimits::default();
        let subjects = |dir: &Path| {
            let mut out: Vec<(String, String)> = read_all(dir)
                .iter()
                .map(|(p, raw)| {
                    let name = p.file_name().unwrap().to_string_lossy();
                    let seq: String = name.split('.').nth(1).unwrap().to_string();
                    (seq, parse_message(raw, &limits).unwrap().subject)
                })
                .collect();
            out.sort();
            out
        };
        assert_eq!(subjects(&dir), subjects(&plain));

        let files = read_all(&dir);
        let (mut readable, mut all, mut pdf, mut png, mut base64, mut latin1) = (0, 0, 0, 0, 0, 0);
        let mut years = HashSet::new();
        for (path, raw) in &files {
            let m = parse_message(raw, &limits).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert!(!m.body.trim().is_empty(), "{path:?}");
            let text = String::from_utf8_lossy(raw);
            base64 +=
                usize::from(text.contains("charset=utf-8\r\nContent-Transfer-Encoding: base64"));
            latin1 += usize::from(text.contains("charset=ISO-8859-1"));
            years.insert(m.date_ms.unwrap() / (365 * 24 * 3600 * 1000));
            for att in &m.attachments {
                all += 1;
                readable += usize::from(att.text.is_some());
                if att.content_type == "application/pdf" {
                    pdf += 1;
                    let t = att
                        .text
                        .as_deref()
                        .unwrap_or_else(|| panic!("pdf text: {att:?}"));
                    assert!(t.len() > 40, "{t:?}");
                }
                png += usize::from(att.content_type == "image/png");
            }
        }
        assert_eq!(
            (all, readable),
            (stats.attachments, stats.readable_attachments)
        );
        assert_eq!(all - readable, png, "only the PNGs are unreadable");
        assert!(
            pdf >= 3 && png >= 3 && base64 >= 10 && latin1 >= 10,
            "{pdf} {png} {base64} {latin1}"
        );
        assert!(years.len() >= 2, "dates spread over years: {years:?}");
        for d in [dir, plain] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn calendars_are_deterministic_and_parse() {
        use ctx_connector_calendar::parse_calendar;
        let (a, b) = (scratch("cal-a"), scratch("cal-b"));
        let options = CalendarOptions {
            today: test_day(),
            ..CalendarOptions::default()
        };
        let stats = generate_calendar(&a, &options).unwrap();
        assert_eq!(stats, generate_calendar(&b, &options).unwrap());
        assert_eq!(stats.series, 25);
        let files = read_all(&a);
        assert_eq!(files.len(), stats.files);
        assert!(files.len() >= 8, "{}", files.len());
        assert_eq!(files, read_all(&b));

        let today = test_day().to_string();
        let next_week_end = (test_day() + time::Duration::days(14)).to_string();
        let (mut entries, mut overrides, mut all_day, mut exdates, mut links) = (0, 0, 0, 0, 0);
        let (mut berlin, mut new_york, mut upcoming, mut weekly) = (0, 0, 0, 0);
        let mut review = false;
        for (path, raw) in &files {
            assert!(path.extension().is_some_and(|e| e == "ics"));
            let text = std::str::from_utf8(raw).unwrap();
            assert!(text.lines().all(|l| l.len() <= 76), "{path:?}");
            let cal = parse_calendar(text);
            assert_eq!(cal.problems, 0, "{path:?}");
            assert!(cal.name.is_some());
            for e in &cal.entries {
                entries += 1;
                overrides += usize::from(e.recurrence_id.is_some());
                all_day += usize::from(e.start.is_some_and(|s| s.is_date()));
                exdates += usize::from(!e.exdates.is_empty());
                links += usize::from(e.conference_url.is_some());
                weekly += usize::from(e.rrule.as_deref().is_some_and(|r| r.contains("WEEKLY")));
                let zone = e.start.map(|s| s.zone().to_string()).unwrap_or_default();
                berlin += usize::from(zone == "Europe/Berlin");
                new_york += usize::from(zone == "America/New_York");
                let start = e.start.unwrap().naive().date().to_string();
                upcoming += usize::from(start >= today && start <= next_week_end);
                if e.rrule.as_deref() == Some("FREQ=MONTHLY;BYDAY=2TU") {
                    review = true;
                    assert!(e.summary.as_deref().unwrap().contains("Acme"));
                    assert!(e.attendees.iter().any(|p| p.email.as_deref()
                        == Some("janet.morales@acme-corp.com")
                        && p.name.as_deref() == Some("Janet Morales")));
                }
            }
        }
        assert!(review);
        assert!(entries > 25, "{entries}");
        assert_eq!(overrides, 1);
        assert!(all_day >= 2 && exdates >= 3 && links >= 10 && weekly >= 10);
        assert!(berlin >= 5 && new_york >= 5, "{berlin} {new_york}");
        assert!(
            upcoming >= 3,
            "single meetings in the next two weeks: {upcoming}"
        );
        for dir in [a, b] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn encoders() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(latin1_qp("a=b \u{fc}"), "a=3Db =FC\r\n");
        let mut out = String::new();
        ical_line(&mut out, &"x".repeat(100));
        assert_eq!(
            out,
            format!("{}\r\n {}\r\n", "x".repeat(75), "x".repeat(25))
        );
        let utc = test_day().with_hms(9, 5, 0).unwrap();
        assert_eq!(rfc5322_date(utc, -300), "Sat, 28 Nov 2026 04:05:00 -0500");
    }

    #[test]
    fn queries_are_plentiful() {
        let demo = demo_queries();
        assert!(demo.len() >= 4 && demo.iter().all(|q| !q.trim().is_empty()));
        let bench = bench_queries();
        assert!(bench.len() >= 50, "{}", bench.len());
        assert!(bench.iter().all(|q| !q.trim().is_empty()));
        let unique: HashSet<&String> = bench.iter().collect();
        assert_eq!(unique.len(), bench.len());
    }
}
