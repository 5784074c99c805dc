//! The folder map: every source folder with its target (or a skip) and the
//! reason, checked for collisions, with the order to create the targets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::error::Error;
use crate::gmail::{ArchiveDetector, GmailLabel, GmailPolicy, MultiLabel};
use crate::hierarchy::{DelimiterEscape, Hierarchy};
use crate::name::MailboxName;
use crate::profile::{Adjustment, TargetProfile};
use crate::response::{ListEntry, ListKind, Listing};
use crate::rules::{RuleAction, Rules};
use crate::special_use::{SpecialUse, is_gmail_root};

/// Why a source folder got its target or was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Reason {
    /// A rule of the rules file, by its 1-based line.
    Rule {
        /// The rule's line.
        line: usize,
    },
    /// The folder's special use: it goes to the target's folder of that role.
    SpecialUse(SpecialUse),
    /// Gmail's All Mail (or any `\All` folder): not copied as a folder;
    /// messages found only there go to the archive target.
    AllMail,
    /// A Gmail view over All Mail (Important, Starred): not copied; its
    /// messages are copied from their folders.
    GmailView(SpecialUse),
    /// A Gmail system folder put at the top level (policy `flatten_system_folders`).
    GmailSystem,
    /// `\Noselect` or `\NonExistent`: holds no messages (its children are
    /// still created under their own parents).
    NotSelectable,
    /// The default translation between the two hierarchies.
    Default,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rule { line } => write!(f, "rule line {line}"),
            Self::SpecialUse(r) => write!(f, "special-use {r}"),
            Self::AllMail => f.write_str("all mail (archived-only messages placed apart)"),
            Self::GmailView(r) => write!(f, "gmail view {r}"),
            Self::GmailSystem => f.write_str("gmail system folder"),
            Self::NotSelectable => f.write_str("not selectable"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// Copy a folder to a target, or skip it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Decision {
    /// Copy into this target folder.
    Copy(MailboxName),
    /// Do not copy.
    Skip,
}

/// One source folder in a [`FolderPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlanEntry {
    /// The source folder, as the source server named it.
    pub source: MailboxName,
    /// Its special use, from attributes or its name.
    pub role: Option<SpecialUse>,
    /// Copy where, or skip.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
    /// Changes made to the target name (escapes, profile fixes).
    pub adjustments: Vec<Adjustment>,
}

impl PlanEntry {
    /// The target folder, `None` when skipped.
    pub fn target(&self) -> Option<&MailboxName> {
        match &self.decision {
            Decision::Copy(t) => Some(t),
            Decision::Skip => None,
        }
    }
}

/// Two source folders that would land on one target folder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Collision {
    /// The first source folder (in listing order).
    pub first: MailboxName,
    /// The second.
    pub second: MailboxName,
    /// The target both map to.
    pub target: MailboxName,
}

/// Whether a target folder in [`FolderPlan::creation_order`] is a folder
/// that receives mail or only a parent of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum CreateKind {
    /// A folder that source mail is copied into.
    Mailbox,
    /// A superior level that no source folder maps to. Servers that create
    /// superiors on their own (RFC 3501 §6.3.3; Dovecot does) need not get a
    /// CREATE for it; create it on the others.
    Parent,
}

/// How to build a [`FolderPlan`]: the two hierarchies, rules, special-use,
/// Gmail policy and target profile.
///
/// ```
/// use imapmig_folders::{Hierarchy, Mapper, Rules};
///
/// let rules: Rules = r"^INBOX\.Sent$ -> Sent Items".parse().unwrap();
/// let mapper = Mapper::new(
///     Hierarchy::new(Some('.'), "INBOX.").unwrap(),
///     Hierarchy::new(Some('/'), "").unwrap(),
/// )
/// .rules(rules);
/// let plan = mapper.plan_names(["INBOX", "INBOX.Sent", "INBOX.Work.Projects"]).unwrap();
/// let targets: Vec<_> = plan.entries().iter().map(|e| e.target().unwrap().as_str()).collect();
/// assert_eq!(targets, ["INBOX", "Sent Items", "Work/Projects"]);
/// assert!(plan.check().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Mapper {
    source: Hierarchy,
    target: Hierarchy,
    rules: Rules,
    escape: DelimiterEscape,
    profile: TargetProfile,
    gmail: Option<GmailPolicy>,
    special_use: bool,
    target_roles: HashMap<SpecialUse, MailboxName>,
    target_existing: Vec<MailboxName>,
}

impl Mapper {
    /// A mapper with no rules, special-use on, no Gmail policy, the generic
    /// profile and the default delimiter escape.
    pub fn new(source: Hierarchy, target: Hierarchy) -> Self {
        Self {
            source,
            target,
            rules: Rules::new(),
            escape: DelimiterEscape::default(),
            profile: TargetProfile::Generic,
            gmail: None,
            special_use: true,
            target_roles: HashMap::new(),
            target_existing: Vec::new(),
        }
    }

    /// A mapper from what both servers said: hierarchies detected with
    /// [`Hierarchy::detect`], the target's special-use folders and existing
    /// folders taken from its listing (see [`target_listing`](Self::target_listing)).
    ///
    /// Fails with [`Error::Delimiter`] when a listing shows neither
    /// NAMESPACE nor any LIST entry.
    pub fn from_listings(source: &Listing, target: &Listing) -> Result<Self, Error> {
        let s = Hierarchy::detect(source)
            .ok_or_else(|| Error::Delimiter("source: nothing listed".into()))?;
        let t = Hierarchy::detect(target)
            .ok_or_else(|| Error::Delimiter("target: nothing listed".into()))?;
        Ok(Self::new(s, t).target_listing(target))
    }

    /// Uses these rename rules (first match wins, before anything else).
    pub fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// How components holding the target's delimiter are escaped.
    pub fn escape(mut self, escape: DelimiterEscape) -> Self {
        self.escape = escape;
        self
    }

    /// The target's profile.
    pub fn profile(mut self, profile: TargetProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Applies Gmail's policy to a Gmail source.
    pub fn gmail(mut self, policy: GmailPolicy) -> Self {
        self.gmail = Some(policy);
        self
    }

    /// Whether special folders go to the target's folder of the same role
    /// (on by default).
    pub fn special_use(mut self, on: bool) -> Self {
        self.special_use = on;
        self
    }

    /// Learns the target's folders: which hold which role (attributes
    /// first, then names) and which exist already (not created again).
    pub fn target_listing(mut self, listing: &Listing) -> Self {
        let delim = self.target.delimiter();
        for e in listing
            .entries()
            .iter()
            .filter(|e| e.kind() == ListKind::List)
        {
            self.target_existing.push(e.name().clone());
            if !e.is_selectable() {
                continue;
            }
            if let Some(role) = SpecialUse::from_attributes(e.attributes()) {
                self.target_roles.insert(role, e.name().clone());
            }
        }
        for e in listing
            .entries()
            .iter()
            .filter(|e| e.kind() == ListKind::List && e.is_selectable())
        {
            if e.name().is_inbox() {
                continue;
            }
            if let Some(role) =
                SpecialUse::from_name(&strip_prefix(e.name().as_str(), &self.target), delim)
            {
                self.target_roles
                    .entry(role)
                    .or_insert_with(|| e.name().clone());
            }
        }
        self
    }

    /// The source hierarchy.
    pub fn source_hierarchy(&self) -> &Hierarchy {
        &self.source
    }

    /// The target hierarchy.
    pub fn target_hierarchy(&self) -> &Hierarchy {
        &self.target
    }

    /// Maps a source listing (its LIST entries; LSUB entries are ignored).
    pub fn plan(&self, source: &Listing) -> Result<FolderPlan, Error> {
        self.plan_entries(
            source
                .entries()
                .iter()
                .filter(|e| e.kind() == ListKind::List),
        )
    }

    /// Maps decoded source names (as the source shows them, with its
    /// delimiter); roles come from the names alone.
    pub fn plan_names<I, S>(&self, names: I) -> Result<FolderPlan, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let entries = names
            .into_iter()
            .map(|n| {
                MailboxName::from_decoded(n.as_ref()).map(|name| {
                    ListEntry::new(ListKind::List, Vec::new(), self.source.delimiter(), name)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.plan_entries(entries.iter())
    }

    /// Maps source LIST entries (from [`Listing`] or an adapter).
    pub fn plan_entries<'a, I>(&self, entries: I) -> Result<FolderPlan, Error>
    where
        I: IntoIterator<Item = &'a ListEntry>,
    {
        let mut unique: Vec<&ListEntry> = Vec::new();
        let mut seen = HashSet::new();
        for e in entries {
            // Exact duplicates only: "INBOX" and "Inbox" listed apart are two
            // mailboxes on that server, and a collision on the target.
            if seen.insert(e.name().wire().to_vec()) {
                unique.push(e);
            }
        }
        // One source folder per role goes to the target's role folder: the
        // first that the server marked with the attribute; else, with the
        // Gmail policy, the first recognised by name inside the "[Gmail]"
        // container (Gmail's own folder beats a user label of the same
        // name); else the first recognised by name. The others keep their
        // own names.
        let roles: Vec<(Option<SpecialUse>, Option<SpecialUse>)> =
            unique.iter().map(|e| self.source_role(e)).collect();
        let mut owner: HashMap<SpecialUse, usize> = HashMap::new();
        for (i, (attr, _)) in roles.iter().enumerate() {
            if let Some(r) = attr {
                owner.entry(*r).or_insert(i);
            }
        }
        if self.gmail.is_some() {
            for (i, (_, role)) in roles.iter().enumerate() {
                let path = self.source.path(unique[i].name().as_str());
                if let (Some(r), [root, _]) = (role, path.as_slice())
                    && is_gmail_root(root)
                {
                    owner.entry(*r).or_insert(i);
                }
            }
        }
        for (i, (_, role)) in roles.iter().enumerate() {
            if let Some(r) = role {
                owner.entry(*r).or_insert(i);
            }
        }
        let mut out = Vec::with_capacity(unique.len());
        for (i, e) in unique.iter().enumerate() {
            let (attr_role, role) = roles[i];
            let owns_role = role.is_some_and(|r| owner.get(&r) == Some(&i));
            out.push(self.map_one(e, attr_role, role, owns_role)?);
        }
        let archive = self.archive_target(&out)?;
        let collisions = self.collisions(&out);
        Ok(FolderPlan {
            entries: out,
            collisions,
            archive,
            target: self.target.clone(),
            existing: self
                .target_existing
                .iter()
                .map(|n| self.key(n.as_str()))
                .collect(),
            fold_case: self.profile.case_insensitive(),
            multi_label: self
                .gmail
                .as_ref()
                .map(|g| g.multi_label)
                .unwrap_or_default(),
        })
    }

    /// The role from the attributes, and the role from attributes or name.
    fn source_role(&self, e: &ListEntry) -> (Option<SpecialUse>, Option<SpecialUse>) {
        if e.name().is_inbox() {
            return (None, None);
        }
        let attr_role = SpecialUse::from_attributes(e.attributes());
        let role = attr_role.or_else(|| {
            SpecialUse::from_name(
                &strip_prefix(e.name().as_str(), &self.source),
                self.source.delimiter(),
            )
        });
        (attr_role, role)
    }

    fn map_one(
        &self,
        e: &ListEntry,
        attr_role: Option<SpecialUse>,
        role: Option<SpecialUse>,
        owns_role: bool,
    ) -> Result<PlanEntry, Error> {
        let name = e.name().as_str();
        let entry = |decision, reason, adjustments| PlanEntry {
            source: e.name().clone(),
            role,
            decision,
            reason,
            adjustments,
        };
        if let Some(hit) = self.rules.apply(name) {
            let reason = Reason::Rule { line: hit.line };
            return Ok(match hit.action {
                RuleAction::Skip => entry(Decision::Skip, reason, Vec::new()),
                RuleAction::Rename(target) => {
                    let path: Vec<String> = target.split('/').map(str::to_owned).collect();
                    let (t, adj) = self.build(&path)?;
                    entry(Decision::Copy(t), reason, adj)
                }
            });
        }
        if !e.is_selectable() {
            return Ok(entry(Decision::Skip, Reason::NotSelectable, Vec::new()));
        }
        let path = self.source.path(name);
        if self.gmail.is_some() && path.len() == 1 && is_gmail_root(&path[0]) {
            // Gmail's "[Gmail]" is a \Noselect container even when listed without attributes.
            return Ok(entry(Decision::Skip, Reason::NotSelectable, Vec::new()));
        }
        let under_gmail = self.gmail.is_some() && path.len() == 2 && is_gmail_root(&path[0]);
        // A server-declared \All folder is never copied whole; with the Gmail
        // policy, name-detected ones are not either.
        if attr_role == Some(SpecialUse::All)
            || (role == Some(SpecialUse::All) && self.gmail.is_some())
        {
            return Ok(entry(Decision::Skip, Reason::AllMail, Vec::new()));
        }
        if self.gmail.is_some()
            && matches!(role, Some(SpecialUse::Important))
            && (under_gmail || attr_role.is_some())
        {
            return Ok(entry(
                Decision::Skip,
                Reason::GmailView(SpecialUse::Important),
                Vec::new(),
            ));
        }
        if self.gmail.is_some()
            && matches!(role, Some(SpecialUse::Flagged))
            && (under_gmail || attr_role.is_some())
        {
            return Ok(entry(
                Decision::Skip,
                Reason::GmailView(SpecialUse::Flagged),
                Vec::new(),
            ));
        }
        if self.special_use
            && owns_role
            && let Some(r) = role
        {
            if let Some(t) = self.target_roles.get(&r) {
                return Ok(entry(
                    Decision::Copy(t.clone()),
                    Reason::SpecialUse(r),
                    Vec::new(),
                ));
            }
            if let Some(p) = self.profile.role_folder(r) {
                // The profile's own folder names need no fixing (Gmail's
                // "[Gmail]/Sent Mail" would otherwise be "reserved").
                let path: Vec<String> = p.split('/').map(str::to_owned).collect();
                let joined = self.target.join(&path, self.escape);
                return Ok(entry(
                    Decision::Copy(MailboxName::from_decoded(&joined)?),
                    Reason::SpecialUse(r),
                    Vec::new(),
                ));
            }
        }
        if under_gmail
            && self
                .gmail
                .as_ref()
                .is_some_and(|g| g.flatten_system_folders)
        {
            let (t, adj) = self.build(&path[1..])?;
            let reason = role.map_or(Reason::GmailSystem, Reason::SpecialUse);
            return Ok(entry(Decision::Copy(t), reason, adj));
        }
        let (t, adj) = self.build(&path)?;
        Ok(entry(Decision::Copy(t), Reason::Default, adj))
    }

    /// Escapes, applies the profile and joins a target path.
    fn build(&self, path: &[String]) -> Result<(MailboxName, Vec<Adjustment>), Error> {
        let mut adjustments = Vec::new();
        let delim = self.target.delimiter();
        let escaped: Vec<String> = path
            .iter()
            .map(|c| {
                let e = self.escape.escape_component(c, delim);
                if e != *c {
                    adjustments.push(Adjustment::Escaped {
                        from: c.clone(),
                        to: e.clone(),
                    });
                }
                e
            })
            .collect();
        let (fixed, adj) = self.profile.fix_path(&escaped);
        adjustments.extend(adj);
        // Already escaped: join with an escape that changes nothing further.
        let joined = self.target.join(&fixed, DelimiterEscape::Replace('_'));
        Ok((MailboxName::from_decoded(&joined)?, adjustments))
    }

    fn archive_target(&self, entries: &[PlanEntry]) -> Result<Option<MailboxName>, Error> {
        if !entries.iter().any(|e| e.reason == Reason::AllMail) {
            return Ok(None);
        }
        if let Some(t) = self.target_roles.get(&SpecialUse::Archive) {
            return Ok(Some(t.clone()));
        }
        let folder = self
            .gmail
            .as_ref()
            .map_or_else(|| "Archive".to_owned(), |g| g.archive_folder.clone());
        let path: Vec<String> = folder.split('/').map(str::to_owned).collect();
        Ok(Some(self.build(&path)?.0))
    }

    fn key(&self, name: &str) -> String {
        target_key(
            name,
            self.target.delimiter(),
            self.profile.case_insensitive(),
        )
    }

    fn collisions(&self, entries: &[PlanEntry]) -> Vec<Collision> {
        let mut by_key: HashMap<String, &PlanEntry> = HashMap::new();
        let mut out = Vec::new();
        for e in entries {
            let Some(t) = e.target() else { continue };
            match by_key.get(&self.key(t.as_str())) {
                Some(first) => out.push(Collision {
                    first: first.source.clone(),
                    second: e.source.clone(),
                    target: t.clone(),
                }),
                None => {
                    by_key.insert(self.key(t.as_str()), e);
                }
            }
        }
        out
    }
}

/// Comparison key of a target name: INBOX (and the INBOX level of a path)
/// in any case is one name, and case-insensitive targets fold case.
fn target_key(name: &str, delimiter: Option<char>, fold_case: bool) -> String {
    let mut k = if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_owned()
    } else if let Some(d) = delimiter
        && name.len() > 5
        && name.is_char_boundary(5)
        && name[..5].eq_ignore_ascii_case("INBOX")
        && name[5..].starts_with(d)
    {
        format!("INBOX{}", &name[5..])
    } else {
        name.to_owned()
    };
    if fold_case {
        k = k.to_lowercase();
    }
    k
}

fn strip_prefix(name: &str, h: &Hierarchy) -> String {
    let p = h.prefix();
    if !p.is_empty()
        && name.len() > p.len()
        && name.is_char_boundary(p.len())
        && name[..p.len()].eq_ignore_ascii_case(p)
    {
        name[p.len()..].to_owned()
    } else {
        name.to_owned()
    }
}

/// Where one message goes on the target, from its Gmail labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Placement {
    /// Target folders to copy the message into (at least one).
    pub folders: Vec<MailboxName>,
    /// Keywords and flags to set on the copies (labels not used as the folder).
    pub keywords: Vec<String>,
}

/// The result of mapping: see [`Mapper`].
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FolderPlan {
    entries: Vec<PlanEntry>,
    collisions: Vec<Collision>,
    archive: Option<MailboxName>,
    target: Hierarchy,
    existing: HashSet<String>,
    fold_case: bool,
    multi_label: MultiLabel,
}

impl FolderPlan {
    /// Every source folder, in listing order (duplicates removed).
    pub fn entries(&self) -> &[PlanEntry] {
        &self.entries
    }

    /// The entry of a source folder by decoded name (INBOX in any case).
    pub fn get(&self, source: &str) -> Option<&PlanEntry> {
        self.entries.iter().find(|e| {
            e.source.as_str() == source
                || (e.source.is_inbox() && source.eq_ignore_ascii_case("INBOX"))
        })
    }

    /// The target of a source folder, `None` if skipped or unknown.
    pub fn target_of(&self, source: &str) -> Option<&MailboxName> {
        self.get(source).and_then(PlanEntry::target)
    }

    /// Pairs of source folders that would land on one target.
    pub fn collisions(&self) -> &[Collision] {
        &self.collisions
    }

    /// `Err(Error::Collision)` naming the first colliding pair: refuse the
    /// plan before anything is copied.
    pub fn check(&self) -> Result<(), Error> {
        match self.collisions.first() {
            Some(c) => Err(Error::Collision {
                first: c.first.as_str().to_owned(),
                second: c.second.as_str().to_owned(),
                target: c.target.as_str().to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Where messages found only in All Mail go; `Some` whenever an All
    /// Mail folder is skipped.
    pub fn archive_target(&self) -> Option<&MailboxName> {
        self.archive.as_ref()
    }

    /// The target folders to create, parents before children, leaving out
    /// INBOX and folders the target listing showed.
    pub fn creation_order(&self) -> Vec<(MailboxName, CreateKind)> {
        let mut wanted: BTreeMap<String, (MailboxName, CreateKind, usize)> = BTreeMap::new();
        let delim = self.target.delimiter();
        let targets = self
            .entries
            .iter()
            .filter_map(PlanEntry::target)
            .chain(self.archive.iter());
        for t in targets {
            let name = t.as_str();
            let depth = delim.map_or(0, |d| name.matches(d).count());
            wanted.insert(name.to_owned(), (t.clone(), CreateKind::Mailbox, depth));
        }
        let leaves: Vec<String> = wanted.keys().cloned().collect();
        for leaf in leaves {
            let Some(d) = delim else { break };
            let mut end = 0;
            while let Some(i) = leaf[end..].find(d) {
                let parent = &leaf[..end + i];
                end += i + d.len_utf8();
                if !parent.is_empty()
                    && !wanted.contains_key(parent)
                    && let Ok(n) = MailboxName::from_decoded(parent)
                {
                    let depth = parent.matches(d).count();
                    wanted.insert(parent.to_owned(), (n, CreateKind::Parent, depth));
                }
            }
        }
        let prefix_root = self.target.prefix().trim_end_matches(|c| Some(c) == delim);
        let mut out: Vec<(MailboxName, CreateKind, usize)> = wanted
            .into_values()
            .filter(|(n, _, _)| {
                !n.is_inbox()
                    && !n.as_str().is_empty()
                    && (prefix_root.is_empty() || n.as_str() != prefix_root)
                    && !self
                        .existing
                        .contains(&target_key(n.as_str(), delim, self.fold_case))
            })
            .collect();
        out.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.as_str().cmp(b.0.as_str())));
        out.into_iter().map(|(n, k, _)| (n, k)).collect()
    }

    /// A detector of archived-only messages for this plan: the skipped All
    /// Mail folders against every folder the plan copies.
    pub fn archive_detector(&self) -> ArchiveDetector {
        let all = self
            .entries
            .iter()
            .filter(|e| e.reason == Reason::AllMail)
            .map(|e| e.source.as_str().to_owned())
            .collect();
        let copied = self
            .entries
            .iter()
            .filter(|e| e.target().is_some())
            .map(|e| e.source.as_str().to_owned())
            .collect();
        ArchiveDetector::new(all, copied)
    }

    /// Where a message with these X-GM-LABELS goes.
    ///
    /// Labels name source folders: `\Inbox` is INBOX, `\Sent`, `\Draft`,
    /// `\Spam` and `\Trash` the source folder of that role, a user label
    /// the folder of that name. With [`MultiLabel::FirstLabel`] the first
    /// label whose folder is copied wins (INBOX first) and the others become
    /// keywords; with [`MultiLabel::CopyPerLabel`] each gets a copy. A
    /// message with no copied folder label goes to the archive target.
    /// `\Starred` becomes `\Flagged`; `\Important` the keyword `$Important`.
    pub fn place_labels(&self, labels: &[GmailLabel]) -> Placement {
        let mut folders: Vec<MailboxName> = Vec::new();
        let mut keywords: Vec<String> = Vec::new();
        let mut ordered: Vec<&GmailLabel> =
            labels.iter().filter(|l| **l == GmailLabel::Inbox).collect();
        ordered.extend(labels.iter().filter(|l| **l != GmailLabel::Inbox));
        for label in ordered {
            let target = if label.is_folder() {
                self.label_target(label)
            } else {
                None
            };
            match target {
                Some(t) if folders.is_empty() || self.multi_label == MultiLabel::CopyPerLabel => {
                    if !folders.contains(t) {
                        folders.push(t.clone());
                    }
                }
                Some(_) if matches!(label, GmailLabel::User(_)) => keywords.push(label.keyword()),
                Some(_) => {}
                None => {
                    if matches!(
                        label,
                        GmailLabel::Starred | GmailLabel::Important | GmailLabel::User(_)
                    ) {
                        keywords.push(label.keyword());
                    }
                }
            }
        }
        if folders.is_empty()
            && let Some(a) = &self.archive
        {
            folders.push(a.clone());
        }
        keywords.dedup();
        Placement { folders, keywords }
    }

    fn label_target(&self, label: &GmailLabel) -> Option<&MailboxName> {
        let by_role = |r: SpecialUse| {
            self.entries
                .iter()
                .find(|e| e.role == Some(r))
                .and_then(PlanEntry::target)
        };
        match label {
            GmailLabel::Inbox => self.target_of("INBOX"),
            GmailLabel::Sent => by_role(SpecialUse::Sent),
            GmailLabel::Draft => by_role(SpecialUse::Drafts),
            GmailLabel::Spam => by_role(SpecialUse::Junk),
            GmailLabel::Trash => by_role(SpecialUse::Trash),
            GmailLabel::User(name) => self.target_of(name),
            _ => None,
        }
    }
}

impl fmt::Display for FolderPlan {
    /// The dry-run table: `source -> target (reason)` per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            match &e.decision {
                Decision::Copy(t) => write!(f, "{} -> {} ({})", e.source, t, e.reason)?,
                Decision::Skip => write!(f, "{} -> [SKIP] ({})", e.source, e.reason)?,
            }
            for a in &e.adjustments {
                write!(f, "; {a}")?;
            }
            writeln!(f)?;
        }
        if let Some(a) = &self.archive {
            writeln!(f, "(archived-only messages) -> {a}")?;
        }
        for c in &self.collisions {
            writeln!(f, "COLLISION: {} and {} -> {}", c.first, c.second, c.target)?;
        }
        Ok(())
    }
}

/// Maps decoded folder names with `/` between levels (a local sample, a
/// Maildir++ or mbox tree) to a target hierarchy, in one call: special-use
/// on, Gmail policy on when `gmail`, no rules.
///
/// ```
/// use imapmig_folders::{Hierarchy, map_local_names};
///
/// let target = Hierarchy::new(Some('.'), "INBOX.").unwrap();
/// let plan = map_local_names(
///     ["INBOX", "Work/Projects", "Écoles", "Releases v1.2", "[Gmail]/All Mail", "[Gmail]/Sent Mail"],
///     &target,
///     true,
/// )
/// .unwrap();
/// let t = |s: &str| plan.target_of(s).map(|n| n.as_str().to_owned());
/// assert_eq!(t("Work/Projects").as_deref(), Some("INBOX.Work.Projects"));
/// assert_eq!(plan.target_of("Écoles").unwrap().wire(), b"INBOX.&AMk-coles");
/// assert_eq!(t("Releases v1.2").as_deref(), Some("INBOX.Releases v1_2"));
/// assert_eq!(t("[Gmail]/All Mail"), None);
/// assert_eq!(t("[Gmail]/Sent Mail").as_deref(), Some("INBOX.Sent Mail"));
/// assert_eq!(plan.archive_target().unwrap().as_str(), "INBOX.Archive");
/// ```
pub fn map_local_names<I, S>(names: I, target: &Hierarchy, gmail: bool) -> Result<FolderPlan, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let source = Hierarchy::new(Some('/'), "")?;
    let mut mapper = Mapper::new(source, target.clone());
    if gmail {
        mapper = mapper.gmail(GmailPolicy::default());
    }
    mapper.plan_names(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot() -> Hierarchy {
        Hierarchy::new(Some('.'), "INBOX.").unwrap()
    }
    fn slash() -> Hierarchy {
        Hierarchy::new(Some('/'), "").unwrap()
    }

    const SEED: &str = r"^INBOX\.Sent$        -> Sent Items
^INBOX\.Trash$       -> Deleted Items
^\[Gmail\]/Trash$    -> Deleted Items
^\[Gmail\]/All Mail$ -> [SKIP]
";

    #[test]
    fn seed_rules_through_plan() {
        let rules: Rules = SEED.parse().unwrap();
        let plan = Mapper::new(dot(), slash())
            .rules(rules.clone())
            .plan_names(["INBOX", "INBOX.Sent", "INBOX.Trash", "INBOX.Work"])
            .unwrap();
        let got: Vec<_> = plan
            .entries()
            .iter()
            .map(|e| (e.target().map(|t| t.as_str().to_owned()), e.reason.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("INBOX".into()), Reason::Default),
                (Some("Sent Items".into()), Reason::Rule { line: 1 }),
                (Some("Deleted Items".into()), Reason::Rule { line: 2 }),
                (Some("Work".into()), Reason::Default),
            ]
        );
        let plan = Mapper::new(slash(), slash())
            .rules(rules)
            .gmail(GmailPolicy::default())
            .plan_names(["[Gmail]/Trash", "[Gmail]/All Mail"])
            .unwrap();
        assert_eq!(
            plan.target_of("[Gmail]/Trash").unwrap().as_str(),
            "Deleted Items"
        );
        assert_eq!(
            plan.get("[Gmail]/All Mail").unwrap().reason,
            Reason::Rule { line: 4 }
        );
        assert_eq!(
            plan.get("[Gmail]/All Mail").unwrap().decision,
            Decision::Skip
        );
    }

    #[test]
    fn special_use_goes_to_target_role_folder() {
        let target = Listing::parse(
            b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n* LIST (\\HasNoChildren) \"/\" \"Deleted Items\"\r\n",
        )
        .unwrap();
        let plan = Mapper::new(slash(), slash())
            .gmail(GmailPolicy::default())
            .target_listing(&target)
            .plan_names([
                "INBOX",
                "[Gmail]/Sent Mail",
                "[Gmail]/Trash",
                "[Gmail]/Starred",
                "[Gmail]/Important",
                "[Gmail]/Drafts",
            ])
            .unwrap();
        let t = |s| plan.target_of(s).map(|n| n.as_str().to_owned());
        assert_eq!(t("[Gmail]/Sent Mail").as_deref(), Some("Sent Items"));
        assert_eq!(t("[Gmail]/Trash").as_deref(), Some("Deleted Items"));
        assert_eq!(t("[Gmail]/Starred"), None);
        assert_eq!(t("[Gmail]/Important"), None);
        assert_eq!(t("[Gmail]/Drafts").as_deref(), Some("Drafts"));
        // Existing folders are not created again.
        let order: Vec<_> = plan
            .creation_order()
            .into_iter()
            .map(|(n, _)| n.as_str().to_owned())
            .collect();
        assert_eq!(order, ["Drafts"]);
    }

    #[test]
    fn gmail_system_folder_owns_its_role_over_a_user_label() {
        // A user label "Sent Mail" (left by an earlier migration) is listed
        // before Gmail's own "[Gmail]/Sent Mail"; with the Gmail policy the
        // system folder takes the \Sent role, the label keeps its name.
        let target =
            Listing::parse(b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n").unwrap();
        for gmail in [true, false] {
            let mut mapper = Mapper::new(slash(), slash()).target_listing(&target);
            if gmail {
                mapper = mapper.gmail(GmailPolicy::default());
            }
            let plan = mapper
                .plan_names(["INBOX", "Sent Mail", "[Gmail]/Sent Mail"])
                .unwrap();
            let t = |s| plan.target_of(s).map(|n| n.as_str().to_owned());
            let (label, system) = if gmail {
                ("Sent Mail", "Sent Items")
            } else {
                // Without the policy the first name-recognised folder wins.
                ("Sent Items", "[Gmail]/Sent Mail")
            };
            assert_eq!(t("Sent Mail").as_deref(), Some(label), "gmail={gmail}");
            assert_eq!(
                t("[Gmail]/Sent Mail").as_deref(),
                Some(system),
                "gmail={gmail}"
            );
        }
    }

    #[test]
    fn collisions_table() {
        let cases: &[(&[&str], TargetProfile, usize)] = &[
            (&["a.b", "a_b"], TargetProfile::Generic, 1),
            (&["Work", "work"], TargetProfile::Generic, 0),
            (&["Work", "work"], TargetProfile::Exchange, 1),
            (&["INBOX", "inbox"], TargetProfile::Generic, 1),
            (&["Sent", "Sent Messages"], TargetProfile::Generic, 0),
            (&["Sent", "Sent Items"], TargetProfile::Exchange, 1),
            (&["INBOX/x", "x"], TargetProfile::Generic, 1),
            (&["a", "b", "c/d"], TargetProfile::Generic, 0),
        ];
        for (names, profile, n) in cases {
            let plan = Mapper::new(slash(), dot())
                .profile(*profile)
                .plan_names(*names)
                .unwrap();
            assert_eq!(plan.collisions().len(), *n, "{names:?} {profile:?}: {plan}");
            assert_eq!(plan.check().is_err(), *n > 0);
        }
        let plan = Mapper::new(slash(), dot())
            .plan_names(["a.b", "a_b"])
            .unwrap();
        assert_eq!(
            plan.check(),
            Err(Error::Collision {
                first: "a.b".into(),
                second: "a_b".into(),
                target: "INBOX.a_b".into()
            })
        );
    }

    #[test]
    fn creation_order_parents_first() {
        let plan = Mapper::new(slash(), dot())
            .plan_names(["x/y/z", "a", "x", "INBOX"])
            .unwrap();
        let order: Vec<_> = plan
            .creation_order()
            .into_iter()
            .map(|(n, k)| (n.as_str().to_owned(), k))
            .collect();
        assert_eq!(
            order,
            [
                ("INBOX.a".to_owned(), CreateKind::Mailbox),
                ("INBOX.x".to_owned(), CreateKind::Mailbox),
                ("INBOX.x.y".to_owned(), CreateKind::Parent),
                ("INBOX.x.y.z".to_owned(), CreateKind::Mailbox),
            ]
        );
    }

    #[test]
    fn gmail_all_mail_and_label_placement() {
        let source = Listing::parse(
            b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
              * LIST (\\Noselect \\HasChildren) \"/\" \"[Gmail]\"\r\n\
              * LIST (\\All \\HasNoChildren) \"/\" \"[Gmail]/All Mail\"\r\n\
              * LIST (\\Sent \\HasNoChildren) \"/\" \"[Gmail]/Sent Mail\"\r\n\
              * LIST (\\Flagged \\HasNoChildren) \"/\" \"[Gmail]/Starred\"\r\n\
              * LIST (\\HasNoChildren) \"/\" \"Work/Projects\"\r\n\
              * LIST (\\HasNoChildren) \"/\" \"Receipts\"\r\n",
        )
        .unwrap();
        let mapper = Mapper::new(slash(), dot()).gmail(GmailPolicy::default());
        let plan = mapper.plan(&source).unwrap();
        assert_eq!(plan.get("[Gmail]").unwrap().reason, Reason::NotSelectable);
        assert_eq!(
            plan.get("[Gmail]/All Mail").unwrap().reason,
            Reason::AllMail
        );
        assert_eq!(
            plan.get("[Gmail]/Starred").unwrap().reason,
            Reason::GmailView(SpecialUse::Flagged)
        );
        assert_eq!(plan.archive_target().unwrap().as_str(), "INBOX.Archive");
        let labels = |l: &[GmailLabel]| {
            let p = plan.place_labels(l);
            (
                p.folders
                    .iter()
                    .map(|f| f.as_str().to_owned())
                    .collect::<Vec<_>>(),
                p.keywords,
            )
        };
        assert_eq!(labels(&[]), (vec!["INBOX.Archive".to_owned()], vec![]));
        assert_eq!(
            labels(&[
                GmailLabel::Starred,
                GmailLabel::User("Receipts".into()),
                GmailLabel::Inbox
            ]),
            (
                vec!["INBOX".to_owned()],
                vec!["\\Flagged".to_owned(), "Receipts".to_owned()]
            )
        );
        assert_eq!(
            labels(&[GmailLabel::Sent]),
            (vec!["INBOX.Sent Mail".to_owned()], vec![])
        );
        let per = Mapper::new(slash(), dot())
            .gmail(GmailPolicy {
                multi_label: MultiLabel::CopyPerLabel,
                ..GmailPolicy::default()
            })
            .plan(&source)
            .unwrap();
        let p = per.place_labels(&[GmailLabel::User("Work/Projects".into()), GmailLabel::Inbox]);
        assert_eq!(p.folders.len(), 2);
        let mut d = plan.archive_detector();
        d.record("[Gmail]/All Mail", "m1");
        d.record("[Gmail]/All Mail", "m2");
        d.record("Receipts", "m2");
        d.record("[Gmail]/Starred", "m1");
        assert_eq!(d.archived_only(), ["m1"]);
    }

    #[test]
    fn dry_run_table_gives_every_reason() {
        let rules: Rules = "^Old$ -> [SKIP]\n".parse().unwrap();
        let plan = Mapper::new(slash(), dot())
            .rules(rules)
            .gmail(GmailPolicy::default())
            .plan_names([
                "INBOX",
                "Old",
                "[Gmail]/All Mail",
                "[Gmail]/Sent Mail",
                "a.b",
                "a_b",
            ])
            .unwrap();
        assert_eq!(
            plan.to_string(),
            "INBOX -> INBOX (default)\n\
             Old -> [SKIP] (rule line 1)\n\
             [Gmail]/All Mail -> [SKIP] (all mail (archived-only messages placed apart))\n\
             [Gmail]/Sent Mail -> INBOX.Sent Mail (special-use \\Sent)\n\
             a.b -> INBOX.a_b (default); delimiter escaped (\"a.b\" -> \"a_b\")\n\
             a_b -> INBOX.a_b (default)\n\
             (archived-only messages) -> INBOX.Archive\n\
             COLLISION: a.b and a_b -> INBOX.a_b\n"
        );
    }

    #[test]
    fn from_listings_detects_both_sides() {
        let src = Listing::parse(
            b"* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n* LIST () \".\" INBOX.Work\r\n",
        )
        .unwrap();
        let dst =
            Listing::parse(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n* LIST () \"/\" INBOX\r\n")
                .unwrap();
        let plan = Mapper::from_listings(&src, &dst)
            .unwrap()
            .plan(&src)
            .unwrap();
        assert_eq!(plan.target_of("INBOX.Work").unwrap().as_str(), "Work");
        assert!(Mapper::from_listings(&Listing::new(), &dst).is_err());
    }
}
