//! A YAML tree whose every node knows its line and column, built from yaml-rust2's parser events.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts in its file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Pos {
    /// The start of a file.
    pub const START: Pos = Pos { line: 1, column: 1 };

    fn of(mark: Marker) -> Pos {
        // yaml-rust2 counts lines from 1 but columns from 0.
        Pos {
            line: mark.line().max(1),
            column: mark.col() + 1,
        }
    }
}

/// One node of the tree and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Position of the node: its first key for a block map, its bracket for a flow collection.
    pub pos: Pos,
    /// What the node holds.
    pub value: Value,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A mapping, with its (key, value) pairs in file order, duplicates included.
    Map(Vec<(Node, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A scalar's text, and whether it was quoted (or a block scalar) rather than plain.
    Scalar {
        /// The text as YAML reads it.
        text: String,
        /// True for quoted and block scalars, which are never null.
        quoted: bool,
    },
    /// An empty value, `~` or `null`.
    Null,
    /// An alias (`*name`): not expanded, reported by whoever reads it.
    Alias,
}

/// A YAML syntax error: where the parser stopped and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The parser's explanation.
    pub message: String,
}

/// Most collections nested in one another: deeper trees are refused before they are built, so that
/// nothing that reads, walks or drops a tree on the Redis main thread can run out of stack.
pub const MAX_DEPTH: usize = 64;

/// Parses `text`, which must hold one document; an empty text gives a `Null` node at 1:1.
///
/// A second document (after `---`) is an error at its start, unless it is empty (a trailing `---`
/// or `---` followed by comments only): that loses nothing, so it is not worth refusing a deploy.
/// Collections nested more than [`MAX_DEPTH`] levels are an error at the first one too deep.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    let mut documents = 0;
    let mut second: Option<Pos> = None;
    loop {
        // The events are pulled one by one (the parser's own `load` recurses once per level).
        let (event, mark) = parser.next_token().map_err(|e| SyntaxError {
            pos: Pos::of(*e.marker()),
            message: e.info().to_string(),
        })?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    second = Some(Pos::of(mark));
                }
            }
            Event::DocumentEnd => {}
            _ if documents > 1 => {
                if !is_empty_value(&event) {
                    return Err(SyntaxError {
                        pos: second.unwrap_or_else(|| Pos::of(mark)),
                        message: "one YAML document per file: remove the `---` and what \
                                  follows, or move it to its own file"
                            .to_string(),
                    });
                }
            }
            _ => builder.on_event(event, mark)?,
        }
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos::START,
        value: Value::Null,
    }))
}

/// Whether an event is a whole document that says nothing (what an empty document holds).
fn is_empty_value(event: &Event) -> bool {
    match event {
        Event::Scalar(text, style, _, _) => *style == TScalarStyle::Plain && is_null(text),
        _ => false,
    }
}

/// The plain scalars YAML reads as null.
fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A collection still being filled.
enum Frame {
    Map {
        start: Pos,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
    Seq {
        start: Pos,
        items: Vec<Node>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
}

impl Builder {
    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    /// The key waiting for its value, if the innermost collection is a map.
    fn pending_key(&self) -> Option<Pos> {
        match self.stack.last() {
            Some(Frame::Map { key: Some(k), .. }) => Some(k.pos),
            _ => None,
        }
    }
}

impl Builder {
    /// Adds one parser event to the tree; a collection deeper than [`MAX_DEPTH`] is an error.
    fn on_event(&mut self, event: Event, mark: Marker) -> Result<(), SyntaxError> {
        let pos = Pos::of(mark);
        if matches!(event, Event::MappingStart(..) | Event::SequenceStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            // A block map is marked after its first key; the key that holds it is a better place.
            let pos = match (&event, self.pending_key()) {
                (Event::MappingStart(..), Some(key)) => key,
                _ => pos,
            };
            return Err(SyntaxError {
                pos,
                message: format!("nested more than {MAX_DEPTH} levels; flatten the structure"),
            });
        }
        match event {
            Event::Scalar(text, style, _, _) => {
                let quoted = style != TScalarStyle::Plain;
                if !quoted && is_null(&text) {
                    // An empty value is marked where the next token starts; its key is a better place.
                    let pos = match (text.is_empty(), self.pending_key()) {
                        (true, Some(key)) => key,
                        _ => pos,
                    };
                    self.add(Node {
                        pos,
                        value: Value::Null,
                    });
                } else {
                    self.add(Node {
                        pos,
                        value: Value::Scalar { text, quoted },
                    });
                }
            }
            Event::Alias(_) => self.add(Node {
                pos,
                value: Value::Alias,
            }),
            Event::MappingStart(..) => self.stack.push(Frame::Map {
                start: pos,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq {
                start: pos,
                items: Vec::new(),
            }),
            Event::MappingEnd | Event::SequenceEnd => {
                let node = match self.stack.pop() {
                    // A block map is marked after its first key, a flow map at its `{`: take the earlier.
                    Some(Frame::Map { start, entries, .. }) => Node {
                        pos: entries.first().map_or(start, |(k, _)| start.min(k.pos)),
                        value: Value::Map(entries),
                    },
                    Some(Frame::Seq { start, items }) => Node {
                        pos: start,
                        value: Value::Seq(items),
                    },
                    None => return Ok(()),
                };
                self.add(node);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn block_maps_start_at_their_first_key() {
        let root = parse("connections:\n  pg:\n    type: postgresql\n").unwrap();
        assert_eq!(root.pos, at(1, 1));
        let (key, pg) = &map(&map(&root)[0].1)[0];
        assert_eq!(key.pos, at(2, 3));
        assert_eq!(pg.pos, at(3, 5));
        let (_, value) = &map(pg)[0];
        assert_eq!(value.pos, at(3, 11));
        assert_eq!(
            value.value,
            Value::Scalar {
                text: "postgresql".into(),
                quoted: false
            }
        );
    }

    #[test]
    fn sequences_start_at_their_dash_and_flow_collections_at_their_bracket() {
        let root = parse("keys:\n  - id\n  - {a: b}\nmore: [x]\n").unwrap();
        let entries = map(&root);
        assert_eq!(entries[0].1.pos, at(2, 3));
        let Value::Seq(items) = &entries[0].1.value else {
            panic!("not a seq")
        };
        assert_eq!(items[1].pos, at(3, 5));
        assert_eq!(entries[1].1.pos, at(4, 7));
    }

    #[test]
    fn empty_values_are_null_at_their_key() {
        let root = parse("a:\nb: ~\nc: ''\nd: \"null\"\n").unwrap();
        let entries = map(&root);
        assert_eq!(
            entries[0].1,
            Node {
                pos: at(1, 1),
                value: Value::Null
            }
        );
        assert_eq!(entries[1].1.value, Value::Null);
        assert_eq!(
            entries[2].1.value,
            Value::Scalar {
                text: String::new(),
                quoted: true
            }
        );
        assert!(
            matches!(&entries[3].1.value, Value::Scalar { text, quoted: true } if text == "null")
        );
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_reader_to_report() {
        let root = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(map(&root).len(), 2);
    }

    #[test]
    fn aliases_are_kept_as_alias_nodes() {
        let root = parse("a: &x 1\nb: *x\n").unwrap();
        assert_eq!(
            map(&root)[1].1,
            Node {
                pos: at(2, 4),
                value: Value::Alias
            }
        );
    }

    #[test]
    fn syntax_errors_carry_the_parser_position() {
        let err = parse("a: b\n  c: d: e\n").unwrap_err();
        assert_eq!(err.pos, at(2, 4));
        assert_eq!(
            err.message,
            "mapping values are not allowed in this context"
        );
    }

    #[test]
    fn empty_text_is_null_at_the_start() {
        assert_eq!(
            parse("").unwrap(),
            Node {
                pos: Pos::START,
                value: Value::Null
            }
        );
        assert_eq!(parse("# only a comment\n").unwrap().value, Value::Null);
    }

    #[test]
    fn a_second_document_is_an_error_at_its_start() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos, at(2, 1));
        assert_eq!(
            err.message,
            "one YAML document per file: remove the `---` and what follows, or move it to its own file"
        );
        let err = parse("---\na: 1\n--- [x]\n").unwrap_err();
        assert_eq!(err.pos, at(3, 1));
    }

    #[test]
    fn a_leading_or_empty_trailing_document_marker_is_fine() {
        for text in [
            "---\na: 1\n",
            "a: 1\n---\n",
            "a: 1\n---\n# old\n",
            "a: 1\n...\n",
        ] {
            let root = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
            assert_eq!(map(&root).len(), 1, "{text:?}");
        }
    }

    #[test]
    fn nesting_deeper_than_the_cap_is_an_error_without_building_the_tree() {
        let ok = format!("{}x\n", "- ".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!("{}x\n", "- ".repeat(100_000));
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.pos, at(1, 2 * MAX_DEPTH + 1));
        assert_eq!(
            err.message,
            "nested more than 64 levels; flatten the structure"
        );
        let flow = format!("a: {}", "[".repeat(100_000));
        // The scanner looks ahead in flow collections and stops first, at 256 levels.
        let err = parse(&flow).unwrap_err();
        assert_eq!(err.message, "recursion limit exceeded", "{err:?}");
        let flow = format!("a: {}{}", "[".repeat(100), "]".repeat(100));
        let err = parse(&flow).unwrap_err();
        assert_eq!(err.pos, at(1, MAX_DEPTH + 3));
        assert!(
            err.message.starts_with("nested more than 64 levels"),
            "{err:?}"
        );
        let maps: String = (0..100).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        assert_eq!(parse(&maps).unwrap_err().pos, at(MAX_DEPTH, MAX_DEPTH));
    }
}
