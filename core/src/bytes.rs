//! Fixed-size, 8-byte-aligned byte records with typed zerocopy views: the op's pdu and
//! extended-argument records; and enums whose value arrives as a number in bytes someone
//! else wrote (`wire_enum!`).

/// Defines an aligned byte record type with `view`/`view_mut` typed access.
macro_rules! aligned_bytes {
    ($(#[$doc:meta])* $name:ident, $size:expr) => {
        $(#[$doc])*
        #[repr(C, align(8))]
        #[derive(Clone, Copy, PartialEq, Eq, Debug, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout, zerocopy::Immutable)]
        pub struct $name([u8; $size]);

        impl $name {
            /// All zero.
            pub const ZERO: $name = $name([0; $size]);
            /// Size in bytes.
            pub const SIZE: usize = $size;

            /// The raw bytes.
            pub fn bytes(&self) -> &[u8; $size] {
                &self.0
            }

            /// The raw bytes, writable.
            pub fn bytes_mut(&mut self) -> &mut [u8; $size] {
                &mut self.0
            }

            /// View the first `size_of::<T>()` bytes as a `T`. Fails to compile when `T`
            /// does not fit or is aligned to more than 8.
            pub fn view<T: zerocopy::FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(&self) -> &T {
                let () = $crate::bytes::Fits::<T, $size>::OK;
                match T::ref_from_prefix(&self.0) {
                    Ok((t, _)) => t,
                    // Size and alignment are checked at compile time above.
                    Err(_) => unreachable!(),
                }
            }

            /// View the first `size_of::<T>()` bytes as a writable `T`.
            pub fn view_mut<T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::KnownLayout>(&mut self) -> &mut T {
                let () = $crate::bytes::Fits::<T, $size>::OK;
                match T::mut_from_prefix(&mut self.0) {
                    Ok((t, _)) => t,
                    // Size and alignment are checked at compile time above.
                    Err(_) => unreachable!(),
                }
            }

            /// A record holding `value` in its first bytes, the rest zero.
            pub fn from_value<T: zerocopy::IntoBytes + zerocopy::Immutable>(value: &T) -> Self {
                let () = $crate::bytes::Fits::<T, $size>::OK;
                let mut r = $name::ZERO;
                let src = zerocopy::IntoBytes::as_bytes(value);
                r.0[..src.len()].copy_from_slice(src);
                r
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::ZERO
            }
        }
    };
}

pub(crate) use aligned_bytes;

/// Defines a `#[repr($repr)]` enum whose value arrives as a `$repr` in bytes someone else
/// wrote (an SQE, a record in memory): `from_repr` checks the number (`None` for one no
/// variant has), `TryFrom<$repr>` makes that -EINVAL, `From<enum> for $repr` gives the
/// number back. The struct that carries it keeps the raw number (every bit pattern must
/// stay valid for zerocopy) and reads it through these.
macro_rules! wire_enum {
    (
        $(#[$doc:meta])*
        pub enum $name:ident: $repr:ty {
            $($(#[$vdoc:meta])* $variant:ident = $value:literal,)+
        }
    ) => {
        $(#[$doc])*
        #[repr($repr)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum $name {
            $($(#[$vdoc])* $variant = $value,)+
        }

        impl $name {
            /// The variant whose number is `value`, or `None` if none has it.
            pub const fn from_repr(value: $repr) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl TryFrom<$repr> for $name {
            type Error = $crate::abi::errno::Errno;

            /// [`Self::from_repr`], with -EINVAL for a number no variant has.
            fn try_from(value: $repr) -> Result<Self, Self::Error> {
                $name::from_repr(value).ok_or($crate::abi::errno::Errno::EINVAL)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> $repr {
                value as $repr
            }
        }
    };
}
pub(crate) use wire_enum;

/// Compile-time check that `T` fits a `SIZE`-byte record: used as `let () =
/// Fits::<T, SIZE>::OK;`, a type that does not fit fails the build at the line that
/// instantiates it (rustc names the user's type in the "instantiating" note).
pub(crate) struct Fits<T, const SIZE: usize>(core::marker::PhantomData<T>);
impl<T, const SIZE: usize> Fits<T, SIZE> {
    pub(crate) const OK: () = assert!(
        size_of::<T>() <= SIZE && align_of::<T>() <= 8,
        "this type does not fit its fwring record: an op's Pdu must be at most 48 bytes, an argument record's type at most 64 bytes, and either aligned to at most 8"
    );
}
