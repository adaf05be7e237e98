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

/// Queries that show the product on the generated corpus.
pub fn demo_queries() -> Vec<&'static str> {
    vec![
        "Acme renewal",
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
struct Rng(u64);

impl Rng {
    fn for_document(seed: u64, index: usize) -> Rng {
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

    fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
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
