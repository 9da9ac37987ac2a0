//! Puts a compiled node in the form evaluation relies on: its fields and the fields of its
//! `$or` branches have distinct names, so every condition under one field of the event is
//! tested together and array elements are picked once for all of them (event-ruler reads a
//! `$or` the same way: each branch joins the fields beside it into one rule).
//!
//! A `$or` group that shares a name with a field beside it, or with another group, is
//! pushed down into that field when every branch tests only that field; otherwise the
//! shared fields are merged into each branch, or two groups are multiplied out. Copies
//! count against a budget of conditions.

use super::matcher::Node;

/// The budget ran out: the pattern would hold more conditions than this once expanded.
#[derive(Debug)]
pub(super) struct TooLarge(pub(super) usize);

/// Conditions a pattern may hold after expansion, copies included.
pub(super) struct Budget {
    pub(super) used: usize,
    pub(super) limit: usize,
}

impl Budget {
    pub(super) fn spend(&mut self, conditions: usize) -> Result<(), TooLarge> {
        self.used = self.used.saturating_add(conditions);
        if self.used > self.limit {
            return Err(TooLarge(self.limit));
        }
        Ok(())
    }
}

/// Resolves the shared names at this node; its fields and branches are already normal.
/// At the envelope's root only `payload` can hold arrays, so only it is tracked there.
pub(super) fn normalize(node: &mut Node, root: bool, budget: &mut Budget) -> Result<(), TooLarge> {
    let tracked = |name: &str| !root || name == "payload";
    while let Some(conflict) = find_conflict(node, &tracked) {
        match conflict {
            Conflict::Field(group) => {
                let branches = node.any_of.remove(group);
                if let Some(name) = single_field(&branches) {
                    push_down(node, name, branches, budget)?;
                    continue;
                }
                let names = group_names(&branches, &tracked);
                let (shared, kept) = std::mem::take(&mut node.fields)
                    .into_iter()
                    .partition(|(name, _)| names.contains(&&**name));
                node.fields = kept;
                let shared = Node::with_fields(shared);
                budget.spend(shared.size() * branches.len().saturating_sub(1))?;
                let merged = branches
                    .into_iter()
                    .map(|branch| merge(branch, shared.clone(), root, budget))
                    .collect::<Result<_, _>>()?;
                node.any_of.push(merged);
            }
            Conflict::Groups(first, second) => {
                // `second > first`: remove it first so `first` keeps its place.
                let other = node.any_of.remove(second);
                let branches = node.any_of.remove(first);
                if let Some(name) = single_field(&branches) {
                    node.any_of.push(other);
                    push_down(node, name, branches, budget)?;
                    continue;
                }
                let size = |group: &[Node]| group.iter().map(Node::size).sum::<usize>();
                budget.spend(
                    (size(&branches) * other.len() + size(&other) * branches.len())
                        .saturating_sub(size(&branches) + size(&other)),
                )?;
                let mut product = Vec::with_capacity(branches.len() * other.len());
                for a in &branches {
                    for b in &other {
                        product.push(merge(a.clone(), b.clone(), root, budget)?);
                    }
                }
                node.any_of.push(product);
            }
        }
    }
    Ok(())
}

enum Conflict {
    /// The group shares a name with a field of the node.
    Field(usize),
    /// Two groups share a name (the second index is the greater).
    Groups(usize, usize),
}

fn find_conflict(node: &Node, tracked: &impl Fn(&str) -> bool) -> Option<Conflict> {
    let groups: Vec<Vec<&str>> = node
        .any_of
        .iter()
        .map(|branches| group_names(branches, tracked))
        .collect();
    for (index, names) in groups.iter().enumerate() {
        if node.fields.iter().any(|(name, _)| names.contains(&&**name)) {
            return Some(Conflict::Field(index));
        }
    }
    for (first, names) in groups.iter().enumerate() {
        for (second, others) in groups.iter().enumerate().skip(first + 1) {
            if names.iter().any(|name| others.contains(name)) {
                return Some(Conflict::Groups(first, second));
            }
        }
    }
    None
}

/// The tracked names the branches of a group test at their node, nested groups included.
fn group_names<'a>(branches: &'a [Node], tracked: &impl Fn(&str) -> bool) -> Vec<&'a str> {
    let mut names = Vec::new();
    for branch in branches {
        collect_names(branch, tracked, &mut names);
    }
    names
}

fn collect_names<'a>(node: &'a Node, tracked: &impl Fn(&str) -> bool, out: &mut Vec<&'a str>) {
    out.extend(
        node.fields
            .iter()
            .map(|(name, _)| &**name)
            .filter(|name| tracked(name)),
    );
    for branch in node.any_of.iter().flatten() {
        collect_names(branch, tracked, out);
    }
}

/// The name, when every branch tests that one field and nothing else.
fn single_field(branches: &[Node]) -> Option<Box<str>> {
    let mut name = None;
    for branch in branches {
        let [(field, _)] = &branch.fields[..] else {
            return None;
        };
        if !branch.leaves.is_empty() || !branch.any_of.is_empty() {
            return None;
        }
        match &name {
            None => name = Some(field.clone()),
            Some(seen) if seen == field => {}
            Some(_) => return None,
        }
    }
    name
}

/// `{n: A, $or: [{n: B}, {n: C}]}` is `{n: {A, $or: [B, C]}}`.
fn push_down(
    node: &mut Node,
    name: Box<str>,
    branches: Vec<Node>,
    budget: &mut Budget,
) -> Result<(), TooLarge> {
    let inner: Vec<Node> = branches
        .into_iter()
        .filter_map(|mut branch| branch.fields.pop().map(|(_, field)| field))
        .collect();
    let field = match node.fields.iter().position(|(n, _)| *n == name) {
        Some(position) => &mut node.fields[position].1,
        None => {
            node.fields.push((name, Node::default()));
            &mut node.fields.last_mut().expect("just pushed").1
        }
    };
    field.any_of.push(inner);
    normalize(field, false, budget)
}

/// Both nodes' conditions at one node (they are at the same path).
fn merge(mut a: Node, b: Node, root: bool, budget: &mut Budget) -> Result<Node, TooLarge> {
    a.leaves.extend(b.leaves);
    for (name, field) in b.fields {
        match a.fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                let mine = std::mem::take(existing);
                *existing = merge(mine, field, false, budget)?;
            }
            None => a.fields.push((name, field)),
        }
    }
    a.any_of.extend(b.any_of);
    normalize(&mut a, root, budget)?;
    Ok(a)
}
