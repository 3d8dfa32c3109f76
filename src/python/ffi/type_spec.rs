//! The hand-written static type objects: one declarative `TypeSpec` per
//! native type, made at import; and the last step of their deallocation.

use pyo3_ffi::*;
use std::ffi::{c_ulong, CStr};
use std::ptr::null_mut;

use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{PyResult, Raised};

/// The all-zero `PyTypeObject` every native type's static starts as
/// (`TypeSpec::make` fills it at import).
pub const fn zeroed_type_object() -> PyTypeObject {
    // SAFETY: PyTypeObject is a C struct of pointers, integers and optional
    // function pointers, for all of which zero (null, 0, None) is valid;
    // CPython itself starts static types from all-zero storage.
    unsafe { std::mem::zeroed() }
}

/// One native type, declared in one place: its static `PyTypeObject` and
/// every slot it fills. `make()` writes them into the zeroed static and
/// readies it; module init goes over a table of these (`python/mod.rs`).
pub struct TypeSpec {
    /// The type's zeroed static `PyTypeObject`.
    pub tp: *mut PyTypeObject,
    /// Full dotted name (`zloop._zloop.X`); the module attribute is its last part.
    pub name: &'static CStr,
    pub doc: &'static CStr,
    pub basicsize: usize,
    /// Flags besides `Py_TPFLAGS_DEFAULT`.
    pub flags: c_ulong,
    pub base: *mut PyTypeObject,
    pub new: Option<newfunc>,
    pub call: Option<ternaryfunc>,
    pub repr: Option<reprfunc>,
    pub hash: Option<hashfunc>,
    pub richcompare: Option<richcmpfunc>,
    pub dealloc: Option<destructor>,
    pub finalize: Option<destructor>,
    pub traverse: Option<traverseproc>,
    pub clear: Option<inquiry>,
    pub methods: *mut PyMethodDef,
    pub getset: *mut PyGetSetDef,
    pub dictoffset: usize,
    pub weaklistoffset: usize,
    /// Runs once the type is ready (class attributes).
    pub finish: Option<fn(*mut PyTypeObject) -> PyResult<()>>,
}

impl TypeSpec {
    /// The fields a type leaves out (`..TypeSpec::DEFAULTS`).
    pub const DEFAULTS: TypeSpec = TypeSpec {
        tp: null_mut(),
        name: c"",
        doc: c"",
        basicsize: 0,
        flags: 0,
        base: null_mut(),
        new: None,
        call: None,
        repr: None,
        hash: None,
        richcompare: None,
        dealloc: None,
        finalize: None,
        traverse: None,
        clear: None,
        methods: null_mut(),
        getset: null_mut(),
        dictoffset: 0,
        weaklistoffset: 0,
        finish: None,
    };

    /// The name the module exports the type under.
    pub fn short_name(&self) -> &'static CStr {
        let bytes = self.name.to_bytes_with_nul();
        let start = bytes.iter().rposition(|&b| b == b'.').map_or(0, |i| i + 1);
        // The tail of a C string is a C string.
        CStr::from_bytes_with_nul(&bytes[start..]).unwrap_or(self.name)
    }

    /// Fills the static type object and readies it (`PyType_Ready`).
    ///
    /// # Safety
    /// `self.tp` is a zeroed static not yet made; the tables are statics;
    /// called once, at import, with the GIL held.
    pub unsafe fn make(&self) -> PyResult<*mut PyTypeObject> {
        let tp = self.tp;
        // SAFETY: per the contract, we are the only writer of this static.
        unsafe {
            (*tp).ob_base = PyVarObject {
                ob_base: PyObject_HEAD_INIT,
                ob_size: 0,
            };
            (*tp).tp_name = self.name.as_ptr();
            (*tp).tp_basicsize = self.basicsize as Py_ssize_t;
            let flags = Py_TPFLAGS_DEFAULT | self.flags;
            // A free-threaded build keeps the flags in an atomic; the type
            // is not shared yet, so a plain store is enough.
            #[cfg(Py_GIL_DISABLED)]
            {
                *(*tp).tp_flags.get_mut() = flags;
            }
            #[cfg(not(Py_GIL_DISABLED))]
            {
                (*tp).tp_flags = flags;
            }
            (*tp).tp_doc = self.doc.as_ptr();
            (*tp).tp_base = self.base;
            (*tp).tp_new = self.new;
            (*tp).tp_call = self.call;
            (*tp).tp_repr = self.repr;
            (*tp).tp_hash = self.hash;
            (*tp).tp_richcompare = self.richcompare;
            (*tp).tp_dealloc = self.dealloc;
            (*tp).tp_finalize = self.finalize;
            (*tp).tp_traverse = self.traverse;
            (*tp).tp_clear = self.clear;
            (*tp).tp_methods = self.methods;
            (*tp).tp_getset = self.getset;
            (*tp).tp_dictoffset = self.dictoffset as Py_ssize_t;
            (*tp).tp_weaklistoffset = self.weaklistoffset as Py_ssize_t;
            if PyType_Ready(tp) < 0 {
                return Err(Raised);
            }
        }
        if let Some(finish) = self.finish {
            finish(tp)?;
        }
        Ok(tp)
    }
}

/// Sets class attributes of a readied type (a `TypeSpec::finish` step).
///
/// # Safety
/// `tp` is a readied static type; GIL held.
pub unsafe fn set_class_attrs(
    tp: *mut PyTypeObject,
    attrs: &[(&CStr, *mut PyObject)],
) -> PyResult<()> {
    // SAFETY: per the contract; the values are live objects.
    unsafe {
        for (name, value) in attrs {
            if PyDict_SetItemString((*tp).tp_dict, name.as_ptr(), *value) < 0 {
                return Err(Raised);
            }
        }
        PyType_Modified(tp);
    }
    Ok(())
}

/// The last step of a `tp_dealloc`: gives the memory back with the type's
/// own `tp_free` (a subclass may allocate differently).
///
/// # Safety
/// `slf` is an object whose references were all released; it is not used after.
pub unsafe fn free_object(slf: *mut PyObject) {
    // SAFETY: per the contract; tp_free matches the type's allocator.
    unsafe {
        if let Some(free) = (*Py_TYPE(slf)).tp_free {
            free(slf.cast());
        }
    }
}

/// A new, zeroed instance of `tp` from its allocator (`tp_alloc`, which a
/// Python subclass may have replaced): what every `tp_new` starts from.
///
/// # Safety
/// `tp` is a readied type whose instances are all-zero valid until the
/// caller writes their fields, before anyone else sees the object.
pub unsafe fn alloc_object(tp: *mut PyTypeObject) -> PyResult<Owned> {
    // SAFETY: per the contract; a new reference or null.
    unsafe {
        let alloc = (*tp).tp_alloc.unwrap_or(PyType_GenericAlloc);
        Owned::from_new(alloc(tp, 0))
    }
}
