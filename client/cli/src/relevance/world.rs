//! The synthetic organisation of the relevance benchmark, with ground truth.
//!
//! A deterministic model of a company (Halcyon Works) and its customers: employees, customer
//! companies with contacts, deals, internal projects and topics. From the model the generator
//! writes what ctx ingests — a Maildir (deal and project threads with quoted replies and text
//! attachments, newsletters), `.ics` calendars (meetings whose titles often name nobody),
//! markdown documents (account briefs, proposals, specs, meeting notes, unrelated notes) and CRM
//! exports (JSONL: companies, contacts, deals, notes) — and, for every item, what it is *about*
//! in the model: which people, companies, deals, projects and topics. The ground truth of a
//! query is computed from that model alone, never from what ctx returns.
//!
//! Truth is per item. A mail thread is about the union of what its messages are about, and
//! every message and attachment of a related thread is related (a conversation is one unit).
//! A contact's items are those they take part in (sender, recipient, attendee) or that the CRM
//! ties to them; a company's items are its contacts' items, its deals' items and its CRM
//! records; a deal's items are its threads, meetings, documents, CRM notes, the deal record and
//! the records of its company and contacts.
//!
//! Content depends on the seed and on `today` (dates are relative to it, so relative time
//! expressions stay meaningful); the truth depends on the seed alone.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::corpus::{Rng, base64_lines, ical_line, ical_text, rfc5322_date};

/// The organisation's own name and mail domain.
pub const ORG_NAME: &str = "Halcyon Works";
pub const ORG_DOMAIN: &str = "halcyonworks.com";

/// Size of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldOptions {
    pub seed: u64,
    /// Customer companies.
    pub companies: usize,
    /// Unrelated documents and newsletters (distractors), in addition to the world's own items.
    pub noise: usize,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            seed: 7,
            companies: 40,
            noise: 2000,
        }
    }
}

/// Where an item is written, i.e. which connector ingests it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Docs,
    Mail,
    Calendar,
    Crm,
}

impl Source {
    /// The connector (source) name the benchmark configures for it.
    pub fn name(self) -> &'static str {
        match self {
            Source::Docs => "docs",
            Source::Mail => "mail",
            Source::Calendar => "calendar",
            Source::Crm => "crm",
        }
    }
}

/// How the benchmark recognises an item in a response, from its source and external id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A document: its file name (unique in the corpus).
    Doc(String),
    /// A message: its Maildir unique name; `attachment` for its (single) attachment item.
    Mail { unique: String, attachment: bool },
    /// A calendar series: its UID.
    Event(String),
    /// A CRM record: its id in the export (`company-0003`, `contact-0042`, `deal-0007`,
    /// `note-0123`), which the connector's external id contains.
    Crm(String),
}

/// What an item is about, in the world's model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    pub people: BTreeSet<usize>,
    pub companies: BTreeSet<usize>,
    pub deals: BTreeSet<usize>,
    pub projects: BTreeSet<usize>,
    pub topics: BTreeSet<usize>,
}

impl About {
    fn merge(&mut self, other: &About) {
        self.people.extend(&other.people);
        self.companies.extend(&other.companies);
        self.deals.extend(&other.deals);
        self.projects.extend(&other.projects);
        self.topics.extend(&other.topics);
    }
}

/// One item the generator wrote.
#[derive(Debug, Clone)]
pub struct TruthItem {
    pub source: Source,
    pub key: Key,
    pub about: About,
}

/// A person: an employee (no company) or a customer contact.
#[derive(Debug, Clone)]
pub struct Person {
    pub first: String,
    pub last: String,
    pub email: String,
    pub title: &'static str,
    pub company: Option<usize>,
}

impl Person {
    pub fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

#[derive(Debug, Clone)]
pub struct Company {
    /// The distinctive word ("Bluefin").
    pub word: &'static str,
    pub name: String,
    pub domain: String,
    pub industry: &'static str,
    pub contacts: Vec<usize>,
    pub deals: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Deal {
    pub name: String,
    pub company: usize,
    pub product: &'static str,
    pub kind: &'static str,
    pub stage: &'static str,
    pub amount: u32,
    pub close_days: i64,
    pub owner: usize,
    pub contacts: Vec<usize>,
    pub topic: usize,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub code: &'static str,
    pub area: &'static str,
    pub lead: usize,
    pub members: Vec<usize>,
    pub topic: usize,
}

/// Query categories, reported separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// A customer contact by full name.
    Person,
    /// A contact by email address.
    Address,
    /// A company by name.
    Company,
    /// A company by mail domain.
    Domain,
    /// A deal by (a form of) its name.
    Deal,
    /// An internal project by code name.
    Project,
    /// A topic by its usual phrase.
    Topic,
    /// A topic in other words (no shared keywords): for semantic retrieval.
    Paraphrase,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Person,
        Category::Address,
        Category::Company,
        Category::Domain,
        Category::Deal,
        Category::Project,
        Category::Topic,
        Category::Paraphrase,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Category::Person => "person (name)",
            Category::Address => "person (address)",
            Category::Company => "company (name)",
            Category::Domain => "company (domain)",
            Category::Deal => "deal",
            Category::Project => "project",
            Category::Topic => "topic",
            Category::Paraphrase => "paraphrase",
        }
    }
}

/// What a query asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Person(usize),
    Company(usize),
    Deal(usize),
    Project(usize),
    Topic(usize),
}

#[derive(Debug, Clone)]
pub struct Query {
    pub text: String,
    pub category: Category,
    pub target: Target,
}

/// The whole model plus what was written.
pub struct World {
    pub people: Vec<Person>,
    pub employees: usize,
    pub companies: Vec<Company>,
    pub deals: Vec<Deal>,
    pub projects: Vec<Project>,
    pub items: Vec<TruthItem>,
    pub queries: Vec<Query>,
}

impl World {
    /// Indices of the items related to `target`; CRM items only when `crm` is ingested.
    pub fn truth(&self, target: Target, crm: bool) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| crm || i.source != Source::Crm)
            .filter(|(_, i)| match target {
                Target::Person(p) => i.about.people.contains(&p),
                Target::Company(c) => i.about.companies.contains(&c),
                Target::Deal(d) => i.about.deals.contains(&d),
                Target::Project(p) => i.about.projects.contains(&p),
                Target::Topic(t) => i.about.topics.contains(&t),
            })
            .map(|(n, _)| n)
            .collect()
    }
}

/// What was written, for the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrittenStats {
    pub documents: usize,
    pub messages: usize,
    pub attachments: usize,
    pub events: usize,
    pub crm_records: usize,
    pub bytes: u64,
}

// ---------------------------------------------------------------------------------------------
// Vocabulary.

const FIRST: [&str; 48] = [
    "Maria", "James", "Aisha", "Tomasz", "Keiko", "Daniel", "Priya", "Lukas", "Fatima", "Oliver",
    "Sofia", "Mateo", "Chloe", "Hiroshi", "Amara", "Noah", "Elena", "Samuel", "Ingrid", "Rahul",
    "Grace", "Felix", "Leila", "Marcus", "Hannah", "Tariq", "Julia", "Victor", "Naomi", "Oscar",
    "Yuki", "Andre", "Clara", "Emeka", "Isabel", "Jonas", "Mei", "Rafael", "Sara", "Theo", "Zara",
    "Bruno", "Dalia", "Ethan", "Freya", "Gustavo", "Helena", "Ivan",
];

const LAST: [&str; 48] = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Kowalski",
    "Haddad",
    "Brennan",
    "Castillo",
    "Nakamura",
    "Osei",
    "Petrov",
    "Quinn",
    "Rasmussen",
    "Silva",
    "Thornton",
    "Umarov",
    "Varga",
    "Whitfield",
    "Yilmaz",
    "Zimmer",
    "Abernathy",
    "Bergstrom",
    "Delacroix",
    "Eriksen",
    "Fontaine",
    "Gallagher",
    "Horvath",
    "Iqbal",
    "Jankowski",
    "Kaur",
    "Lombardi",
    "Mbeki",
    "Novak",
    "Ostrowski",
    "Pacheco",
    "Rinaldi",
    "Sandoval",
    "Takahashi",
    "Ulrich",
    "Vasquez",
    "Wojcik",
    "Xavier",
    "Yamada",
    "Zeller",
    "Achterberg",
    "Beaumont",
    "Carrington",
    "Dubois",
];

const COMPANY_WORDS: [&str; 48] = [
    "Bluefin",
    "Copperleaf",
    "Northwind",
    "Ironbark",
    "Silverline",
    "Redwood",
    "Brightwater",
    "Stonebridge",
    "Goldcrest",
    "Blackthorn",
    "Clearview",
    "Driftwood",
    "Evergreen",
    "Foxglove",
    "Granite",
    "Harborview",
    "Juniper",
    "Kingsley",
    "Lakeshore",
    "Meridian",
    "Nimbus",
    "Oakridge",
    "Pinecone",
    "Quarry",
    "Riverstone",
    "Sagebrush",
    "Tidewater",
    "Umbra",
    "Vantage",
    "Westfield",
    "Yellowtail",
    "Zephyr",
    "Ashgrove",
    "Birchwood",
    "Cedarline",
    "Dunmore",
    "Elmstead",
    "Fairhaven",
    "Glenrock",
    "Hollowell",
    "Ivywood",
    "Jadeport",
    "Kestrelton",
    "Larchmont",
    "Mossbank",
    "Netherby",
    "Orchardly",
    "Primrose",
];

const COMPANY_KINDS: [(&str, &str); 12] = [
    ("Logistics", "logistics"),
    ("Health", "healthcare"),
    ("Robotics", "manufacturing"),
    ("Foods", "food and beverage"),
    ("Capital", "financial services"),
    ("Energy", "energy"),
    ("Retail", "retail"),
    ("Labs", "biotech"),
    ("Media", "media"),
    ("Insurance", "insurance"),
    ("Mobility", "transportation"),
    ("Systems", "software"),
];

const CONTACT_TITLES: [&str; 10] = [
    "VP Operations",
    "Head of IT",
    "CTO",
    "Procurement Manager",
    "Director of Engineering",
    "CFO",
    "Security Lead",
    "Product Owner",
    "Data Platform Lead",
    "COO",
];

const EMPLOYEE_TITLES: [&str; 8] = [
    "Account Executive",
    "Solutions Engineer",
    "Customer Success Manager",
    "Engineering Manager",
    "Product Manager",
    "Staff Engineer",
    "Sales Director",
    "Support Lead",
];

const PRODUCTS: [&str; 12] = [
    "Fleet Telemetry",
    "Cold Chain Monitor",
    "Route Planner",
    "Asset Tracker",
    "Demand Forecast",
    "Warehouse Vision",
    "Yard Scheduler",
    "Carbon Ledger",
    "Dock Booking",
    "Parts Catalog",
    "Field Service Hub",
    "Quality Inspector",
];

const DEAL_KINDS: [&str; 5] = [
    "renewal",
    "expansion",
    "pilot",
    "enterprise rollout",
    "upsell",
];
const STAGES: [&str; 5] = [
    "discovery",
    "proposal",
    "negotiation",
    "closed won",
    "verbal commit",
];

const PROJECT_CODES: [(&str, &str); 12] = [
    ("Osprey", "the mobile offline mode"),
    ("Kestrel", "the new billing engine"),
    ("Heron", "the search infrastructure"),
    ("Plover", "the partner API"),
    ("Merlin", "the admin console redesign"),
    ("Curlew", "the data warehouse export"),
    ("Dunlin", "the notification service"),
    ("Egret", "the on-premise installer"),
    ("Gannet", "the reporting module"),
    ("Lapwing", "the identity layer"),
    ("Avocet", "the metrics pipeline"),
    ("Shrike", "the workflow builder"),
];

/// (phrase, paraphrase, sentences that mention the phrase). A paraphrase shares no content
/// word with the phrase or its sentences.
const TOPICS: [(&str, &str, [&str; 3]); 16] = [
    (
        "single sign-on",
        "letting staff log in with their corporate identity provider",
        [
            "They want single sign-on through Okta before the rollout.",
            "Single sign-on is a hard requirement for their security team.",
            "We confirmed SAML single sign-on works with their tenant.",
        ],
    ),
    (
        "data retention policy",
        "how long records are kept before deletion",
        [
            "Their data retention policy caps logs at ninety days.",
            "Legal asked for our data retention policy in writing.",
            "The data retention policy needs a per-region override.",
        ],
    ),
    (
        "penetration test",
        "outside hackers probing our systems for weaknesses",
        [
            "The penetration test report is due before signature.",
            "Their auditors want the latest penetration test summary.",
            "We scheduled a penetration test of the API gateway.",
        ],
    ),
    (
        "usage-based pricing",
        "charging per consumption instead of flat seats",
        [
            "They asked whether usage-based pricing caps the monthly bill.",
            "Usage-based pricing would suit their seasonal volumes.",
            "Finance modelled usage-based pricing against the current plan.",
        ],
    ),
    (
        "SOC 2 audit",
        "the yearly compliance attestation by an independent auditor",
        [
            "The SOC 2 audit window opens next month.",
            "They need our SOC 2 audit report under NDA.",
            "Evidence collection for the SOC 2 audit is on track.",
        ],
    ),
    (
        "on-call rotation",
        "who answers pages outside office hours",
        [
            "The on-call rotation moves to weekly shifts.",
            "Add the new hires to the on-call rotation in January.",
            "Escalations skipped the on-call rotation twice last week.",
        ],
    ),
    (
        "latency regression",
        "the service got noticeably slower after we shipped",
        [
            "The latency regression traces back to the cache change.",
            "Customers noticed the latency regression in the dashboard.",
            "A latency regression of forty milliseconds blocked the release.",
        ],
    ),
    (
        "disaster recovery",
        "restoring operations after an outage of a whole region",
        [
            "Their disaster recovery plan needs a four-hour objective.",
            "We ran the disaster recovery drill on Saturday.",
            "The disaster recovery runbook is out of date.",
        ],
    ),
    (
        "GDPR requests",
        "European customers asking to see or erase their personal information",
        [
            "GDPR requests must be answered within thirty days.",
            "Support handled nine GDPR requests this month.",
            "Automating GDPR requests would save the team a day a week.",
        ],
    ),
    (
        "invoice disputes",
        "customers disagreeing with what we billed them",
        [
            "Two invoice disputes are still open with accounts payable.",
            "Invoice disputes slowed the renewal conversation.",
            "Finance wants a process for invoice disputes over ten thousand.",
        ],
    ),
    (
        "API rate limits",
        "how many calls a client may make per minute",
        [
            "Their integration keeps hitting the API rate limits.",
            "We can raise the API rate limits for the pilot.",
            "The API rate limits are documented per endpoint.",
        ],
    ),
    (
        "hiring plan",
        "how many people we recruit next year and for which teams",
        [
            "The hiring plan adds four engineers in the first quarter.",
            "Finance approved the hiring plan with one change.",
            "The hiring plan depends on the Series C timing.",
        ],
    ),
    (
        "offline sync",
        "working without a network connection and catching up later",
        [
            "Offline sync conflicts need a clear merge rule.",
            "Drivers depend on offline sync in rural areas.",
            "The offline sync queue drops edits after a crash.",
        ],
    ),
    (
        "audit logging",
        "a tamper-proof trail of who changed what",
        [
            "Audit logging must cover admin actions too.",
            "They asked to export audit logging to their SIEM.",
            "Audit logging retention is twelve months by default.",
        ],
    ),
    (
        "contract redlines",
        "the lawyers' marked-up edits to the agreement",
        [
            "Their contract redlines touch the liability cap.",
            "Legal returned the contract redlines on Friday.",
            "We accepted most contract redlines except indemnity.",
        ],
    ),
    (
        "database migration",
        "moving our stored records onto a new storage engine",
        [
            "The database migration runs in three phases.",
            "A database migration rehearsal is planned for staging.",
            "The database migration froze writes for ten minutes.",
        ],
    ),
];

const FILLER: [&str; 36] = [
    "Let me know if that works for you.",
    "I will circle back once I hear from the team.",
    "Thanks again for the quick turnaround.",
    "We can walk through the details on our next call.",
    "Happy to adjust the plan if priorities change.",
    "I attached the latest numbers for reference.",
    "The team is aligned on the next steps.",
    "Please flag anything that looks off.",
    "We should have an update by the end of the week.",
    "I shared the draft with our finance team.",
    "Could you confirm the timeline on your side?",
    "Nothing is blocking us right now.",
    "We moved the review to later in the month.",
    "That matches what we discussed last time.",
    "I will send a short summary after the meeting.",
    "Our engineers reviewed the requirements in detail.",
    "The budget was approved at the last steering meeting.",
    "We need a decision before the quarter closes.",
    "The rollout would start with one region.",
    "Training for the operators is included.",
    "I added two questions at the end.",
    "The pricing sheet reflects the volume discount.",
    "Support will be available during the cutover.",
    "We can offer a shorter term if that helps.",
    "Their procurement process takes about three weeks.",
    "The legal review should be straightforward.",
    "We agreed to revisit the scope in spring.",
    "The pilot results were better than expected.",
    "I looped in a colleague who knows the integration.",
    "Our roadmap covers most of what they asked for.",
    "The kickoff could happen right after signature.",
    "They asked for references from similar customers.",
    "I will update the forecast accordingly.",
    "The integration tests passed on the first try.",
    "We still need sign-off from their security team.",
    "The onboarding checklist is ready to share.",
];

const GENERIC_SUBJECTS: [&str; 10] = [
    "Quick question",
    "Follow-up from our call",
    "Next steps",
    "Pricing follow-up",
    "Notes from Tuesday",
    "Checking in",
    "Updated timeline",
    "Open items",
    "Proposal draft",
    "Your questions",
];

const GENERIC_MEETINGS: [&str; 8] = [
    "Weekly sync",
    "Pricing call",
    "Technical deep dive",
    "Quarterly business review",
    "Security review",
    "Working session",
    "Kickoff prep",
    "Contract walkthrough",
];

const NEWS_SUBJECTS: [&str; 8] = [
    "This week in supply chain",
    "Industry digest",
    "Webinar invitation",
    "Product updates for December",
    "Your monthly analytics report",
    "New whitepaper available",
    "Conference early-bird tickets",
    "Five trends to watch",
];

const NOISE_TITLES: [&str; 12] = [
    "Office move checklist",
    "Team offsite ideas",
    "Reading list",
    "Expense policy notes",
    "Interview loop guide",
    "Coffee machine rota",
    "Brown bag talk topics",
    "Laptop refresh plan",
    "Holiday schedule",
    "Style guide draft",
    "Onboarding buddy notes",
    "Parking and travel tips",
];

// ---------------------------------------------------------------------------------------------
// The model.

fn slug(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Builds the model (people, companies, deals, projects) for `options`.
fn model(options: &WorldOptions) -> World {
    let mut rng = Rng::for_document(options.seed, 0x776f_726c);
    let companies_n = options.companies.clamp(1, COMPANY_WORDS.len());
    // Unique names: a shuffled product of first and last names.
    let mut names: Vec<(usize, usize)> = (0..FIRST.len())
        .flat_map(|f| (0..LAST.len()).map(move |l| (f, l)))
        .collect();
    for i in (1..names.len()).rev() {
        let j = rng.below(i + 1);
        names.swap(i, j);
    }
    let mut next_name = names.into_iter();
    let mut people: Vec<Person> = Vec::new();
    let employees = 40;
    for i in 0..employees {
        let (f, l) = next_name.next().expect("enough names");
        people.push(Person {
            first: FIRST[f].to_string(),
            last: LAST[l].to_string(),
            email: format!(
                "{}.{}@{ORG_DOMAIN}",
                FIRST[f].to_lowercase(),
                LAST[l].to_lowercase()
            ),
            title: EMPLOYEE_TITLES[i % EMPLOYEE_TITLES.len()],
            company: None,
        });
    }
    let mut companies = Vec::new();
    for (c, &word) in COMPANY_WORDS.iter().enumerate().take(companies_n) {
        let (kind, industry) = COMPANY_KINDS[rng.below(COMPANY_KINDS.len())];
        let name = format!("{word} {kind}");
        // Domains as companies pick them: the name, a shortened name, or initials that
        // no keyword search connects to the name.
        let domain = match c % 4 {
            0 | 1 => format!("{}.com", word.to_lowercase()),
            2 => format!("{}{}.io", word.to_lowercase(), kind.to_lowercase()),
            _ => format!(
                "{}{}.net",
                &word[..2].to_lowercase(),
                &kind[..1].to_lowercase()
            ),
        };
        let mut contacts = Vec::new();
        for _ in 0..rng.range(3, 5) {
            let (f, l) = next_name.next().expect("enough names");
            contacts.push(people.len());
            people.push(Person {
                first: FIRST[f].to_string(),
                last: LAST[l].to_string(),
                email: if rng.chance(50) {
                    format!(
                        "{}.{}@{domain}",
                        FIRST[f].to_lowercase(),
                        LAST[l].to_lowercase()
                    )
                } else {
                    format!(
                        "{}{}@{domain}",
                        &FIRST[f][..1].to_lowercase(),
                        LAST[l].to_lowercase()
                    )
                },
                title: CONTACT_TITLES[rng.below(CONTACT_TITLES.len())],
                company: Some(c),
            });
        }
        companies.push(Company {
            word,
            name,
            domain,
            industry,
            contacts,
            deals: Vec::new(),
        });
    }
    let mut deals = Vec::new();
    for (c, company) in companies.iter_mut().enumerate() {
        for _ in 0..rng.range(1, 2) {
            let product = PRODUCTS[rng.below(PRODUCTS.len())];
            let kind = DEAL_KINDS[rng.below(DEAL_KINDS.len())];
            let contacts_of = &company.contacts;
            let mut contacts = vec![contacts_of[rng.below(contacts_of.len())]];
            let second = contacts_of[rng.below(contacts_of.len())];
            if !contacts.contains(&second) {
                contacts.push(second);
            }
            company.deals.push(deals.len());
            deals.push(Deal {
                name: format!("{} {product} {kind}", company.word),
                company: c,
                product,
                kind,
                stage: STAGES[rng.below(STAGES.len())],
                amount: rng.range(20, 900) as u32 * 1000,
                close_days: rng.range(10, 120) as i64,
                owner: rng.below(employees),
                contacts,
                topic: rng.below(TOPICS.len()),
            });
        }
    }
    let mut projects = Vec::new();
    for &(code, area) in &PROJECT_CODES {
        let lead = rng.below(employees);
        let mut members = vec![lead];
        while members.len() < 5 {
            let m = rng.below(employees);
            if !members.contains(&m) {
                members.push(m);
            }
        }
        projects.push(Project {
            code,
            area,
            lead,
            members,
            topic: rng.below(TOPICS.len()),
        });
    }
    World {
        people,
        employees,
        companies,
        deals,
        projects,
        items: Vec::new(),
        queries: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// One message before rendering.
struct Mail {
    from: usize,
    to: Vec<usize>,
    cc: Vec<usize>,
    subject: String,
    at: time::PrimitiveDateTime,
    id: String,
    parents: Vec<String>,
    body: String,
    attachment: Option<(String, &'static str, String)>,
}

struct Writer<'a> {
    root: &'a Path,
    today: time::Date,
    world: World,
    stats: WrittenStats,
    mail_seq: usize,
    events: Vec<String>,
    crm: CrmExport,
}

#[derive(Default)]
struct CrmExport {
    companies: String,
    contacts: String,
    deals: String,
    notes: String,
}

fn rfc3339(at: time::PrimitiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn ical_utc(at: time::PrimitiveDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}00Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

fn filler_range(rng: &mut Rng, lo: usize, hi: usize, out: &mut String) {
    let n = rng.range(lo, hi);
    filler(rng, n, out);
}

fn filler(rng: &mut Rng, n: usize, out: &mut String) {
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(FILLER[rng.below(FILLER.len())]);
    }
}

impl Writer<'_> {
    fn person(&self, p: usize) -> &Person {
        &self.world.people[p]
    }

    fn mailbox(&self, p: usize) -> String {
        let person = self.person(p);
        format!("{} <{}>", person.name(), person.email)
    }

    /// A signature; about half the people name their company in it, as in real mail.
    fn signature(&self, p: usize) -> String {
        let person = self.person(p);
        if p % 2 == 1 {
            return person.first.clone();
        }
        let org = match person.company {
            Some(c) => self.world.companies[c].name.clone(),
            None => ORG_NAME.to_string(),
        };
        format!("{}\n{}, {org}", person.name(), person.title)
    }

    fn when(&self, rng: &mut Rng, days_ago: i64) -> time::PrimitiveDateTime {
        (self.today - time::Duration::days(days_ago))
            .with_hms(rng.range(7, 17) as u8, rng.range(0, 59) as u8, 0)
            .expect("valid time")
    }

    fn push(&mut self, source: Source, key: Key, about: About) {
        self.world.items.push(TruthItem { source, key, about });
    }

    fn about_people(&self, people: &[usize]) -> About {
        let mut about = About::default();
        for &p in people {
            about.people.insert(p);
            if let Some(c) = self.person(p).company {
                about.companies.insert(c);
            }
        }
        about
    }

    /// Writes a thread; every message (and attachment) is about `about` plus its participants.
    fn thread(&mut self, mails: Vec<Mail>, mut about: About) -> std::io::Result<()> {
        for m in &mails {
            let mut all = vec![m.from];
            all.extend(&m.to);
            all.extend(&m.cc);
            about.merge(&self.about_people(&all));
        }
        let dir = self.root.join("mail");
        for m in mails {
            let secs = m.at.assume_utc().unix_timestamp();
            let unique = format!("{secs}.{}.rel", self.mail_seq);
            self.mail_seq += 1;
            let raw = self.render_mail(&m);
            let path = dir.join("cur").join(format!("{unique}:2,S"));
            std::fs::write(&path, raw.as_bytes())?;
            self.stats.messages += 1;
            self.stats.bytes += raw.len() as u64;
            self.push(
                Source::Mail,
                Key::Mail {
                    unique: unique.clone(),
                    attachment: false,
                },
                about.clone(),
            );
            if m.attachment.is_some() {
                self.stats.attachments += 1;
                self.push(
                    Source::Mail,
                    Key::Mail {
                        unique,
                        attachment: true,
                    },
                    about.clone(),
                );
            }
        }
        Ok(())
    }

    fn render_mail(&self, m: &Mail) -> String {
        let list = |people: &[usize]| {
            people
                .iter()
                .map(|&p| self.mailbox(p))
                .collect::<Vec<_>>()
                .join(",\r\n ")
        };
        let mut out = String::with_capacity(m.body.len() * 2 + 512);
        let _ = write!(
            out,
            "Message-ID: <{}>\r\nDate: {}\r\nFrom: {}\r\nTo: {}\r\n",
            m.id,
            rfc5322_date(m.at, 0),
            self.mailbox(m.from),
            list(&m.to)
        );
        if !m.cc.is_empty() {
            let _ = write!(out, "Cc: {}\r\n", list(&m.cc));
        }
        let _ = write!(out, "Subject: {}\r\n", m.subject);
        if let Some(parent) = m.parents.last() {
            let refs: Vec<String> = m.parents.iter().map(|id| format!("<{id}>")).collect();
            let _ = write!(
                out,
                "In-Reply-To: <{parent}>\r\nReferences: {}\r\n",
                refs.join(" ")
            );
        }
        out.push_str("MIME-Version: 1.0\r\n");
        let body = m.body.replace('\n', "\r\n");
        match &m.attachment {
            None => {
                let _ = write!(
                    out,
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
                );
            }
            Some((name, content_type, data)) => {
                let b = format!("=_mixed_{}", m.id.split('@').next().unwrap_or("x"));
                let _ = write!(
                    out,
                    "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n--{b}\r\nContent-Type: {content_type}; charset=utf-8; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--{b}--\r\n",
                    base64_lines(data.as_bytes())
                );
            }
        }
        out
    }

    fn doc(&mut self, folder: &str, name: String, text: &str, about: About) -> std::io::Result<()> {
        let dir = self.root.join("docs").join(folder);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&name), text.as_bytes())?;
        self.stats.documents += 1;
        self.stats.bytes += text.len() as u64;
        self.push(Source::Docs, Key::Doc(name), about);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        uid: String,
        summary: &str,
        description: &str,
        start: time::PrimitiveDateTime,
        weekly: bool,
        organizer: usize,
        attendees: &[usize],
        about: About,
    ) {
        let mut out = String::new();
        out.push_str("BEGIN:VEVENT\r\n");
        ical_line(&mut out, &format!("UID:{uid}"));
        ical_line(
            &mut out,
            &format!("DTSTAMP:{}", ical_utc(self.today.midnight())),
        );
        ical_line(&mut out, &format!("SUMMARY:{}", ical_text(summary)));
        ical_line(&mut out, &format!("DESCRIPTION:{}", ical_text(description)));
        ical_line(&mut out, &format!("DTSTART:{}", ical_utc(start)));
        ical_line(
            &mut out,
            &format!("DTEND:{}", ical_utc(start + time::Duration::minutes(45))),
        );
        if weekly {
            ical_line(&mut out, "RRULE:FREQ=WEEKLY;COUNT=12");
        }
        let o = self.person(organizer);
        ical_line(
            &mut out,
            &format!("ORGANIZER;CN=\"{}\":mailto:{}", o.name(), o.email),
        );
        for &a in attendees {
            let p = self.person(a);
            ical_line(
                &mut out,
                &format!(
                    "ATTENDEE;CN=\"{}\";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:{}",
                    p.name(),
                    p.email
                ),
            );
        }
        out.push_str("END:VEVENT\r\n");
        self.stats.events += 1;
        self.events.push(out);
        let mut all = vec![organizer];
        all.extend(attendees);
        let mut full = self.about_people(&all);
        full.merge(&about);
        self.push(Source::Calendar, Key::Event(uid), full);
    }

    fn crm_line(&mut self, which: &str, value: serde_json::Value, key: String, about: About) {
        let line = format!("{value}\n");
        self.stats.bytes += line.len() as u64;
        self.stats.crm_records += 1;
        match which {
            "companies" => self.crm.companies.push_str(&line),
            "contacts" => self.crm.contacts.push_str(&line),
            "deals" => self.crm.deals.push_str(&line),
            _ => self.crm.notes.push_str(&line),
        }
        self.push(Source::Crm, Key::Crm(key), about);
    }
}

/// Writes the world under `root` (`docs/`, `mail/`, `calendars/`, `crm/`), replacing an
/// earlier generation there, and returns the model with its items and queries.
pub fn generate(
    root: &Path,
    options: &WorldOptions,
    today: time::Date,
) -> std::io::Result<(World, WrittenStats)> {
    for sub in ["docs", "mail", "calendars", "crm"] {
        let path = root.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
    }
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join("mail").join(sub))?;
    }
    std::fs::create_dir_all(root.join("calendars"))?;
    std::fs::create_dir_all(root.join("crm"))?;
    let mut w = Writer {
        root,
        today,
        world: model(options),
        stats: WrittenStats::default(),
        mail_seq: 0,
        events: Vec::new(),
        crm: CrmExport::default(),
    };
    let mut rng = Rng::for_document(options.seed, 0x6974_656d);
    write_crm_records(&mut w);
    for d in 0..w.world.deals.len() {
        write_deal(&mut w, &mut rng, d)?;
    }
    for c in 0..w.world.companies.len() {
        write_account_brief(&mut w, &mut rng, c)?;
    }
    for p in 0..w.world.projects.len() {
        write_project(&mut w, &mut rng, p)?;
    }
    for t in 0..TOPICS.len() {
        write_topic_docs(&mut w, &mut rng, t)?;
    }
    write_noise(&mut w, &mut rng, options.noise)?;

    let mut cal = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Halcyon Works//ctx relevance bench//EN\r\n",
    );
    for e in &w.events {
        cal.push_str(e);
    }
    cal.push_str("END:VCALENDAR\r\n");
    w.stats.bytes += cal.len() as u64;
    std::fs::write(root.join("calendars").join("work.ics"), cal)?;
    let crm_dir = root.join("crm");
    std::fs::write(crm_dir.join("companies.jsonl"), &w.crm.companies)?;
    std::fs::write(crm_dir.join("contacts.jsonl"), &w.crm.contacts)?;
    std::fs::write(crm_dir.join("deals.jsonl"), &w.crm.deals)?;
    std::fs::write(crm_dir.join("notes.jsonl"), &w.crm.notes)?;

    let queries = make_queries(&w.world, options.seed);
    w.world.queries = queries;
    Ok((w.world, w.stats))
}

fn write_crm_records(w: &mut Writer<'_>) {
    let updated = rfc3339(
        (w.today - time::Duration::days(2))
            .with_hms(9, 0, 0)
            .expect("valid"),
    );
    for c in 0..w.world.companies.len() {
        let co = w.world.companies[c].clone();
        let mut about = About::default();
        about.companies.insert(c);
        about.deals.extend(&co.deals);
        w.crm_line(
            "companies",
            serde_json::json!({"id": format!("company-{c:04}"), "name": co.name, "domain": co.domain,
                "industry": co.industry, "updated_at": updated}),
            format!("company-{c:04}"),
            about,
        );
        for &p in &co.contacts {
            let person = w.person(p).clone();
            let mut about = w.about_people(&[p]);
            for &d in &co.deals {
                if w.world.deals[d].contacts.contains(&p) {
                    about.deals.insert(d);
                }
            }
            w.crm_line(
                "contacts",
                serde_json::json!({"id": format!("contact-{p:04}"), "first_name": person.first,
                    "last_name": person.last, "email": person.email,
                    "phone": format!("+1 555 01{:02}", p % 100), "title": person.title,
                    "company_id": format!("company-{c:04}"), "updated_at": updated}),
                format!("contact-{p:04}"),
                about,
            );
        }
    }
    for d in 0..w.world.deals.len() {
        let deal = w.world.deals[d].clone();
        let mut about = w.about_people(&deal.contacts);
        about.deals.insert(d);
        about.companies.insert(deal.company);
        let close = rfc3339(
            (w.today + time::Duration::days(deal.close_days))
                .with_hms(0, 0, 0)
                .expect("valid"),
        );
        w.crm_line(
            "deals",
            serde_json::json!({"id": format!("deal-{d:04}"), "name": deal.name, "stage": deal.stage,
                "amount": deal.amount, "close_date": close,
                "company_id": format!("company-{:04}", deal.company),
                "contact_ids": deal.contacts.iter().map(|p| format!("contact-{p:04}")).collect::<Vec<_>>(),
                "owner_email": w.person(deal.owner).email, "updated_at": updated}),
            format!("deal-{d:04}"),
            about,
        );
    }
}

/// A deal's threads, meetings, proposal, meeting notes and CRM notes.
fn write_deal(w: &mut Writer<'_>, rng: &mut Rng, d: usize) -> std::io::Result<()> {
    let deal = w.world.deals[d].clone();
    let company = w.world.companies[deal.company].clone();
    let topic = TOPICS[deal.topic];
    let mut base = About::default();
    base.deals.insert(d);
    base.companies.insert(deal.company);
    // Threads.
    for t in 0..rng.range(2, 4) {
        let colleague = rng.below(w.world.employees);
        let mentions_topic = rng.chance(60);
        let subject = match rng.below(10) {
            0..=3 => format!("{} {}: {}", company.word, deal.product, deal.kind),
            4..=6 => format!("{} - next steps", company.name),
            _ => GENERIC_SUBJECTS[rng.below(GENERIC_SUBJECTS.len())].to_string(),
        };
        let messages = rng.range(2, 5);
        let mut at = {
            let days = rng.range(3, 80) as i64;
            w.when(rng, days)
        };
        let mut parents: Vec<String> = Vec::new();
        let mut mails = Vec::new();
        let mut previous_body = String::new();
        for k in 0..messages {
            let (from, to) = if k % 2 == 0 {
                (deal.owner, deal.contacts.clone())
            } else {
                (deal.contacts[k % deal.contacts.len()], vec![deal.owner])
            };
            let cc = if k == 0 && rng.chance(40) && colleague != deal.owner {
                vec![colleague]
            } else {
                Vec::new()
            };
            let mut body = String::new();
            let greet = if to.len() == 1 {
                w.person(to[0]).first.clone()
            } else {
                "all".to_string()
            };
            let _ = write!(body, "Hi {greet},\n\n");
            if k == 0 || rng.chance(50) {
                if rng.chance(50) {
                    let _ = write!(
                        body,
                        "Following up on the {} {} for {}. ",
                        deal.product, deal.kind, company.word
                    );
                } else {
                    let _ = write!(body, "Following up on the {}. ", deal.kind);
                }
            }
            if mentions_topic && (k == 0 || rng.chance(40)) {
                body.push_str(topic.2[rng.below(3)]);
                body.push(' ');
            }
            filler_range(rng, 3, 8, &mut body);
            let _ = write!(body, "\n\nBest,\n{}\n", w.signature(from));
            if k > 0 {
                let _ = write!(
                    body,
                    "\nOn {}, {} wrote:\n",
                    rfc5322_date(at, 0),
                    w.person(mails.last().map(|m: &Mail| m.from).unwrap_or(from))
                        .name()
                );
                for line in previous_body.lines() {
                    let _ = writeln!(body, "> {line}");
                }
            }
            let attachment = (k == 0 && rng.chance(35)).then(|| {
                let mut data = format!(
                    "{} {} proposal summary\n\nCustomer: {}\nScope: {} for {} sites\nTerm: 24 months\n\n",
                    deal.product,
                    deal.kind,
                    company.name,
                    deal.product,
                    rng.range(2, 40)
                );
                filler(rng, 6, &mut data);
                data.push('\n');
                (
                    format!("{}-{}-summary.txt", slug(company.word), slug(deal.product)),
                    "text/plain",
                    data,
                )
            });
            let id = format!("d{d}t{t}m{k}.{}@{ORG_DOMAIN}", w.mail_seq + k);
            previous_body = body.clone();
            mails.push(Mail {
                from,
                to,
                cc,
                subject: if k == 0 {
                    subject.clone()
                } else {
                    format!("Re: {subject}")
                },
                at,
                id: id.clone(),
                parents: parents.clone(),
                body,
                attachment,
            });
            parents.push(id);
            at += time::Duration::hours(rng.range(2, 40) as i64);
        }
        let mut about = base.clone();
        if mentions_topic {
            about.topics.insert(deal.topic);
        }
        w.thread(mails, about)?;
    }
    // Meetings: titles mostly name nobody; the attendees say who it is with.
    for m in 0..rng.range(1, 3) {
        let generic = rng.chance(65);
        let summary = if generic {
            GENERIC_MEETINGS[rng.below(GENERIC_MEETINGS.len())].to_string()
        } else {
            format!("{} / {ORG_NAME}: {}", company.word, deal.product)
        };
        let mut description = String::from("Agenda: ");
        filler(rng, 2, &mut description);
        let start = {
            let days = rng.range(0, 60) as i64 - 20;
            w.when(rng, days)
        };
        w.event(
            format!("rel-deal{d}-m{m}@{ORG_DOMAIN}"),
            &summary,
            &description,
            start,
            rng.chance(20),
            deal.owner,
            &deal.contacts,
            base.clone(),
        );
        // Notes of some meetings, naming the contacts by first name only.
        if rng.chance(40) {
            let mut text = format!("# Notes: {summary} ({})\n\n", start.date());
            let firsts: Vec<String> = deal
                .contacts
                .iter()
                .map(|&p| w.person(p).first.clone())
                .collect();
            let _ = write!(
                text,
                "Attendees: {} and {}.\n\n",
                firsts.join(", "),
                w.person(deal.owner).first
            );
            let _ = write!(
                text,
                "- {} asked about {} timing.\n- ",
                firsts[0],
                deal.product.to_lowercase()
            );
            filler(rng, 4, &mut text);
            text.push('\n');
            w.doc(
                "meeting-notes",
                format!("notes-deal{d}-m{m}.md"),
                &text,
                base.clone(),
            )?;
        }
    }
    // The proposal: long, names the deal and the company.
    let mut text = format!(
        "# Proposal: {} {} for {}\n\nPrepared by {} for {}.\n\n",
        deal.product,
        deal.kind,
        company.name,
        w.person(deal.owner).name(),
        deal.contacts
            .iter()
            .map(|&p| w.person(p).name())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let mut about = base.clone();
    for section in [
        "Background",
        "Scope",
        "Timeline",
        "Pricing",
        "Terms",
        "Risks",
    ] {
        let _ = write!(text, "## {section}\n\n");
        filler_range(rng, 8, 20, &mut text);
        text.push_str("\n\n");
    }
    if rng.chance(50) {
        text.push_str(topic.2[0]);
        text.push('\n');
        about.topics.insert(deal.topic);
    }
    about.merge(&w.about_people(&deal.contacts));
    w.doc("proposals", format!("proposal-deal{d}.md"), &text, about)?;
    // CRM notes naming the contact by first name, never the company.
    for n in 0..rng.range(1, 3) {
        let contact = deal.contacts[rng.below(deal.contacts.len())];
        let mut body = format!(
            "Call with {}: {} ",
            w.person(contact).first,
            FILLER[rng.below(FILLER.len())]
        );
        filler(rng, 2, &mut body);
        let at = {
            let days = rng.range(1, 60) as i64;
            w.when(rng, days)
        };
        let mut about = base.clone();
        about.merge(&w.about_people(&[contact]));
        let id = format!("note-{:04}", d * 4 + n);
        w.crm_line(
            "notes",
            serde_json::json!({"id": id, "body": body, "timestamp": rfc3339(at),
                "deal_id": format!("deal-{d:04}"), "contact_ids": [format!("contact-{contact:04}")],
                "company_id": format!("company-{:04}", deal.company), "updated_at": rfc3339(at)}),
            id.clone(),
            about,
        );
    }
    Ok(())
}

fn write_account_brief(w: &mut Writer<'_>, rng: &mut Rng, c: usize) -> std::io::Result<()> {
    let co = w.world.companies[c].clone();
    let mut text = format!(
        "# Account brief: {}\n\nIndustry: {}. Domain: {}.\n\n## Contacts\n\n",
        co.name, co.industry, co.domain
    );
    for &p in &co.contacts {
        let person = w.person(p);
        let _ = writeln!(text, "- {}, {}", person.name(), person.title);
    }
    text.push_str("\n## Open deals\n\n");
    for &d in &co.deals {
        let deal = &w.world.deals[d];
        let _ = writeln!(
            text,
            "- {} {} ({}, stage {})",
            deal.product,
            deal.kind,
            money(deal.amount),
            deal.stage
        );
    }
    text.push_str("\n## Notes\n\n");
    filler(rng, 6, &mut text);
    text.push('\n');
    let mut about = w.about_people(&co.contacts);
    about.companies.insert(c);
    about.deals.extend(&co.deals);
    w.doc(
        "accounts",
        format!("account-{}.md", slug(&co.name)),
        &text,
        about,
    )
}

fn money(amount: u32) -> String {
    format!("${}k", amount / 1000)
}

fn write_project(w: &mut Writer<'_>, rng: &mut Rng, p: usize) -> std::io::Result<()> {
    let project = w.world.projects[p].clone();
    let topic = TOPICS[project.topic];
    let mut base = About::default();
    base.projects.insert(p);
    for t in 0..3 {
        let subject = if rng.chance(55) {
            format!(
                "{}: {}",
                project.code,
                ["status", "design", "open questions"][t]
            )
        } else {
            ["Standup notes", "Design question", "Blocking issue"][t].to_string()
        };
        let mut at = {
            let days = rng.range(2, 60) as i64;
            w.when(rng, days)
        };
        let mut parents = Vec::new();
        let mut mails = Vec::new();
        let mentions_topic = rng.chance(50);
        for k in 0..rng.range(2, 4) {
            let from = project.members[(k + t) % project.members.len()];
            let to: Vec<usize> = project
                .members
                .iter()
                .copied()
                .filter(|&m| m != from)
                .collect();
            let mut body = String::from("Hi team,\n\n");
            if k == 0 {
                let _ = write!(body, "An update on {}. ", project.area);
            }
            if mentions_topic && k == 0 {
                body.push_str(topic.2[rng.below(3)]);
                body.push(' ');
            }
            filler_range(rng, 3, 7, &mut body);
            let _ = write!(body, "\n\n{}\n", w.person(from).first);
            let id = format!("p{p}t{t}m{k}.{}@{ORG_DOMAIN}", w.mail_seq + k);
            mails.push(Mail {
                from,
                to,
                cc: Vec::new(),
                subject: if k == 0 {
                    subject.clone()
                } else {
                    format!("Re: {subject}")
                },
                at,
                id: id.clone(),
                parents: parents.clone(),
                body,
                attachment: None,
            });
            parents.push(id);
            at += time::Duration::hours(rng.range(1, 20) as i64);
        }
        let mut about = base.clone();
        if mentions_topic {
            about.topics.insert(project.topic);
        }
        w.thread(mails, about)?;
    }
    let start = {
        let days = rng.range(20, 50) as i64;
        w.when(rng, days)
    };
    let standup = format!("{} standup", project.code);
    w.event(
        format!("rel-proj{p}-standup@{ORG_DOMAIN}"),
        &standup,
        &format!("Daily check-in on {}.", project.area),
        start,
        true,
        project.lead,
        &project.members[1..],
        base.clone(),
    );
    w.event(
        format!("rel-proj{p}-review@{ORG_DOMAIN}"),
        "Design review",
        "Walk through the open design questions.",
        {
            let days = rng.range(0, 30) as i64 - 10;
            w.when(rng, days)
        },
        false,
        project.lead,
        &project.members[1..],
        base.clone(),
    );
    let mut text = format!(
        "# Project {}: specification\n\nLead: {}. Scope: {}.\n\n",
        project.code,
        w.person(project.lead).name(),
        project.area
    );
    for section in ["Goals", "Design", "Milestones", "Open questions"] {
        let _ = write!(text, "## {section}\n\n");
        filler_range(rng, 5, 12, &mut text);
        text.push_str("\n\n");
    }
    let mut about = base.clone();
    text.push_str(topic.2[1]);
    text.push('\n');
    about.topics.insert(project.topic);
    w.doc(
        "projects",
        format!("spec-{}.md", slug(project.code)),
        &text,
        about,
    )
}

fn write_topic_docs(w: &mut Writer<'_>, rng: &mut Rng, t: usize) -> std::io::Result<()> {
    let topic = TOPICS[t];
    for n in 0..3 {
        let mut text = format!(
            "# {}\n\n",
            match n {
                0 => format!("Notes on {}", topic.0),
                1 => format!("FAQ: {}", topic.0),
                _ => "Team wiki page".to_string(),
            }
        );
        text.push_str(topic.2[n]);
        text.push(' ');
        filler_range(rng, 4, 10, &mut text);
        text.push('\n');
        let mut about = About::default();
        about.topics.insert(t);
        w.doc("wiki", format!("topic{t}-{n}.md"), &text, about)?;
    }
    Ok(())
}

/// Distractors: newsletters and unrelated notes that share vocabulary (products, industries)
/// with the world but are about none of its entities.
fn write_noise(w: &mut Writer<'_>, rng: &mut Rng, n: usize) -> std::io::Result<()> {
    let newsletters = n / 5;
    let vendor_people: Vec<usize> = (0..6)
        .map(|i| {
            let idx = w.world.people.len();
            w.world.people.push(Person {
                first: ["News", "Events", "Digest", "Team", "Updates", "Hello"][i].to_string(),
                last: "Desk".to_string(),
                email: format!(
                    "{}@{}",
                    ["news", "events", "digest", "team", "updates", "hello"][i],
                    [
                        "supplychaindive.example",
                        "logisticsweekly.example",
                        "saasnews.example"
                    ][i % 3]
                ),
                title: "Newsletter",
                company: None,
            });
            idx
        })
        .collect();
    for k in 0..newsletters {
        let from = vendor_people[k % vendor_people.len()];
        let to = rng.below(w.world.employees);
        let mut body = format!(
            "This issue: how {} teams use {}. ",
            COMPANY_KINDS[rng.below(COMPANY_KINDS.len())].1,
            PRODUCTS[rng.below(PRODUCTS.len())].to_lowercase()
        );
        filler_range(rng, 4, 9, &mut body);
        body.push_str("\n\nUnsubscribe at any time.\n");
        let at = {
            let days = rng.range(0, 120) as i64;
            w.when(rng, days)
        };
        let mail = Mail {
            from,
            to: vec![to],
            cc: Vec::new(),
            subject: NEWS_SUBJECTS[rng.below(NEWS_SUBJECTS.len())].to_string(),
            at,
            id: format!("news{k}@example.invalid"),
            parents: Vec::new(),
            body,
            attachment: None,
        };
        // Newsletters are about their (vendor) sender only; the recipient is incidental.
        let mut about = About::default();
        about.people.insert(from);
        w.thread_plain(mail, about)?;
    }
    for k in 0..n - newsletters {
        let mut text = format!(
            "# {} ({k})\n\n",
            NOISE_TITLES[rng.below(NOISE_TITLES.len())]
        );
        filler_range(rng, 5, 25, &mut text);
        if rng.chance(30) {
            let _ = write!(
                text,
                " Vendors in {} keep pitching {} tools.",
                COMPANY_KINDS[rng.below(COMPANY_KINDS.len())].1,
                PRODUCTS[rng.below(PRODUCTS.len())].to_lowercase()
            );
        }
        text.push('\n');
        w.doc("misc", format!("misc-{k:05}.md"), &text, About::default())?;
    }
    Ok(())
}

impl Writer<'_> {
    /// A one-message thread whose truth is exactly `about` (participants are not added).
    fn thread_plain(&mut self, m: Mail, about: About) -> std::io::Result<()> {
        let secs = m.at.assume_utc().unix_timestamp();
        let unique = format!("{secs}.{}.rel", self.mail_seq);
        self.mail_seq += 1;
        let raw = self.render_mail(&m);
        std::fs::write(
            self.root
                .join("mail")
                .join("cur")
                .join(format!("{unique}:2,S")),
            raw.as_bytes(),
        )?;
        self.stats.messages += 1;
        self.stats.bytes += raw.len() as u64;
        self.push(
            Source::Mail,
            Key::Mail {
                unique,
                attachment: false,
            },
            about,
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

fn make_queries(world: &World, seed: u64) -> Vec<Query> {
    let mut rng = Rng::for_document(seed, 0x7175_6572);
    let mut out = Vec::new();
    // Contacts who take part in a deal (the others only appear in CRM records and briefs).
    let contacts: Vec<usize> = (world.employees..world.people.len())
        .filter(|&p| world.deals.iter().any(|d| d.contacts.contains(&p)))
        .collect();
    // Every fifth contact, spread over the companies.
    let step = (contacts.len() / 25).max(1);
    for (n, &p) in contacts.iter().step_by(step).take(25).enumerate() {
        let name = world.people[p].name();
        let text = match n % 4 {
            0 | 1 => name,
            2 => format!("what is {name} waiting on"),
            _ => format!("emails and meetings with {name}"),
        };
        out.push(Query {
            text,
            category: Category::Person,
            target: Target::Person(p),
        });
    }
    for &p in contacts.iter().skip(1).step_by(step * 3).take(8) {
        out.push(Query {
            text: world.people[p].email.clone(),
            category: Category::Address,
            target: Target::Person(p),
        });
    }
    for (c, co) in world.companies.iter().enumerate().take(20) {
        let text = match c % 3 {
            0 => co.name.clone(),
            1 => format!("everything about {}", co.name),
            _ => format!("{} account status", co.name),
        };
        out.push(Query {
            text,
            category: Category::Company,
            target: Target::Company(c),
        });
    }
    for (c, co) in world.companies.iter().enumerate().skip(20).take(6) {
        out.push(Query {
            text: co.domain.clone(),
            category: Category::Domain,
            target: Target::Company(c),
        });
    }
    for (d, deal) in world.deals.iter().enumerate().step_by(2).take(20) {
        let company = &world.companies[deal.company];
        let text = match rng.below(3) {
            0 => deal.name.clone(),
            1 => format!("{} {} for {}", deal.product, deal.kind, company.name),
            _ => format!("where are we on the {} {}", company.word, deal.kind),
        };
        out.push(Query {
            text,
            category: Category::Deal,
            target: Target::Deal(d),
        });
    }
    for (p, project) in world.projects.iter().enumerate().take(10) {
        out.push(Query {
            text: if p % 2 == 0 {
                format!("Project {}", project.code)
            } else {
                format!("{} status", project.code)
            },
            category: Category::Project,
            target: Target::Project(p),
        });
    }
    for (t, topic) in TOPICS.iter().enumerate().take(12) {
        out.push(Query {
            text: topic.0.to_string(),
            category: Category::Topic,
            target: Target::Topic(t),
        });
    }
    for (t, topic) in TOPICS.iter().enumerate().take(12) {
        out.push(Query {
            text: topic.1.to_string(),
            category: Category::Paraphrase,
            target: Target::Topic(t),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_deterministic_and_truth_is_nonempty() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let options = WorldOptions {
            seed: 3,
            companies: 8,
            noise: 50,
        };
        let today = time::macros::date!(2026 - 11 - 30);
        let (wa, sa) = generate(a.path(), &options, today).unwrap();
        let (wb, sb) = generate(b.path(), &options, today).unwrap();
        assert_eq!(sa.bytes, sb.bytes);
        assert_eq!(wa.items.len(), wb.items.len());
        let ics_a = std::fs::read(a.path().join("calendars/work.ics")).unwrap();
        let ics_b = std::fs::read(b.path().join("calendars/work.ics")).unwrap();
        assert_eq!(ics_a, ics_b);
        assert!(wa.queries.len() >= 50, "{}", wa.queries.len());
        for q in &wa.queries {
            assert!(!wa.truth(q.target, true).is_empty(), "{q:?} has no truth");
            assert!(!wa.truth(q.target, false).is_empty(), "{q:?} has no truth");
        }
        // A generic meeting of a deal is related to its company although it never names it.
        let generic = wa.items.iter().any(|i| {
            i.source == Source::Calendar && !i.about.companies.is_empty() && {
                let Key::Event(uid) = &i.key else {
                    return false;
                };
                let text = String::from_utf8_lossy(&ics_a).to_string();
                let block = text
                    .split("BEGIN:VEVENT")
                    .find(|b| b.contains(uid.as_str()));
                block.is_some_and(|b| {
                    GENERIC_MEETINGS
                        .iter()
                        .any(|g| b.contains(&format!("SUMMARY:{g}\r")))
                })
            }
        });
        assert!(generic, "expected a generic-titled customer meeting");
    }

    #[test]
    fn paraphrases_share_no_word_with_their_topic() {
        const STOP: &[&str] = &[
            "their", "with", "that", "this", "from", "after", "before", "about", "which", "they",
            "what", "when",
        ];
        for (phrase, para, sentences) in TOPICS {
            let words = |s: &str| {
                s.to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 3 && !STOP.contains(w))
                    .map(str::to_string)
                    .collect::<BTreeSet<_>>()
            };
            let mut known = words(phrase);
            for s in sentences {
                assert!(
                    s.to_lowercase().contains(&phrase.to_lowercase()),
                    "{s} lacks {phrase}"
                );
                known.extend(words(s));
            }
            let shared: Vec<String> = words(para).intersection(&known).cloned().collect();
            assert!(shared.is_empty(), "{para} shares {shared:?} with {phrase}");
        }
    }
}
