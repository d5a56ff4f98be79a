//! Closed sets: enums whose values are metric labels, report keys and event fields, declared
//! once with [`closed_set!`] (variant, name) so that `ALL`, `COUNT`, `NAMES`, `name` and
//! `index` cannot drift apart.

/// A closed set of named values, in a fixed order.
pub trait ClosedSet: Copy + 'static {
    /// Number of values.
    const COUNT: usize;
    /// The name of each value, in order.
    const NAMES: &'static [&'static str];
    /// The value's name (label value, report key).
    fn name(self) -> &'static str;
    /// Position in the order.
    fn index(self) -> usize;
}

/// Declares a closed set: a fieldless enum with its names, in order.
///
/// ```ignore
/// closed_set! {
///     /// Where packets were dropped.
///     pub enum DropStage {
///         /// A worker queue was full.
///         Queue => "queue",
///         /// The kernel buffer was full.
///         Kernel => "kernel",
///     }
/// }
/// ```
///
/// Generates `COUNT`, `ALL` (every value, in order), `NAMES`, `name()`, `index()` and the
/// [`ClosedSet`] implementation; the enum derives `Copy, Clone, Debug, PartialEq, Eq, Hash,
/// PartialOrd, Ord` (more derives and attributes may be given, e.g. `Default`).
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $label:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// Number of values.
            pub const COUNT: usize = [$($name::$variant),+].len();

            /// Every value, in order.
            pub const ALL: [$name; Self::COUNT] = [$($name::$variant),+];

            /// The name of each value, in order.
            pub const NAMES: [&'static str; Self::COUNT] = [$($label),+];

            /// The value's name (label value, report key).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }

            /// Position in `ALL`.
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        impl $crate::closed::ClosedSet for $name {
            const COUNT: usize = $name::COUNT;
            const NAMES: &'static [&'static str] = &$name::NAMES;
            fn name(self) -> &'static str {
                $name::name(self)
            }
            fn index(self) -> usize {
                $name::index(self)
            }
        }
    };
}

pub(crate) use closed_set;

#[cfg(test)]
mod tests {
    use super::ClosedSet;

    closed_set! {
        /// A test set.
        enum Colour {
            /// Red.
            Red => "red",
            /// Green.
            Green => "green",
        }
    }

    fn names<S: ClosedSet>(all: &[S]) -> Vec<(usize, &'static str)> {
        all.iter().map(|v| (v.index(), v.name())).collect()
    }

    #[test]
    fn order_names_and_indexes_agree() {
        assert_eq!(Colour::COUNT, 2);
        assert_eq!(names(&Colour::ALL), [(0, "red"), (1, "green")]);
        assert_eq!(<Colour as ClosedSet>::NAMES, ["red", "green"]);
    }
}
