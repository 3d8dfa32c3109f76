//! The CPython adapter: the only code that touches `pyo3-ffi`.

mod acceptor;
mod event_loop;
mod fd_owner;
mod ffi;
mod handle;
mod signal_reader;
mod sock_op;
mod transport;

use pyo3_ffi::*;
use std::ffi::c_void;
use std::ptr;

use ffi::entry::{noargs_def, onearg_def};
use ffi::names;
use ffi::owned::Owned;
use ffi::raised::{PyResult, Raised};
use ffi::type_spec::TypeSpec;

unsafe extern "C" fn register_support(
    _module: *mut PyObject,
    support: *mut PyObject,
) -> *mut PyObject {
    names::register_support(support);
    Owned::none().into_ptr()
}

unsafe extern "C" fn fd_fields_recognised(
    _module: *mut PyObject,
    _: *mut PyObject,
) -> *mut PyObject {
    ffi::objects::bool_object(fd_owner::fields_recognised()).into_ptr()
}

/// The module's teardown: kept handle memory goes back to the allocator.
unsafe extern "C" fn module_free(_module: *mut c_void) {
    // SAFETY: CPython frees a module with the GIL held.
    unsafe { handle::HandleFreeList::drain() }
}

static mut MODULE_METHODS: [PyMethodDef; 3] = [
    onearg_def(
        c"_register_support",
        register_support,
        c"Called by zloop._support at import: the Python helpers of the cold paths.",
    ),
    noargs_def(
        c"_fd_fields_recognised",
        fd_fields_recognised,
        c"Whether socket and FileIO fds are checked without a fileno() call.",
    ),
    PyMethodDef::zeroed(),
];

static mut MODULE_DEF: PyModuleDef = PyModuleDef {
    m_base: PyModuleDef_HEAD_INIT,
    m_name: c"zloop._zloop".as_ptr(),
    m_doc: c"zloop's native engine: the Loop, its handles, transports and I/O callbacks.".as_ptr(),
    m_size: -1,
    m_methods: ptr::addr_of_mut!(MODULE_METHODS).cast(),
    m_slots: ptr::null_mut(),
    m_traverse: None,
    m_clear: None,
    m_free: Some(module_free),
};

/// Every native type, in the order they are made (a base before its
/// subtypes), each exported under the last part of its name.
const TYPES: [fn() -> TypeSpec; 10] = [
    handle::type_spec,
    handle::timer_handle::type_spec,
    event_loop::methods::type_spec,
    transport::stream::type_spec,
    acceptor::type_spec,
    sock_op::type_spec,
    signal_reader::type_spec,
    transport::datagram::type_spec,
    transport::read_pipe::type_spec,
    transport::write_pipe::type_spec,
];

fn init_module() -> PyResult<Owned> {
    // SAFETY: the module definition is a static used only here, once.
    let module = unsafe { Owned::from_new(PyModule_Create(ptr::addr_of_mut!(MODULE_DEF)))? };
    crate::core::sys::heap::settle_malloc_thresholds();
    names::init()?;
    fd_owner::init()?;
    // SAFETY: import holds the GIL.
    unsafe { handle::HandleFreeList::init() };
    for spec in TYPES {
        let spec = spec();
        // SAFETY: import runs once with the GIL held; each spec names its
        // own zeroed static; AddObjectRef takes a borrowed reference and
        // static types live forever.
        unsafe {
            let tp = spec.make()?;
            if PyModule_AddObjectRef(module.as_ptr(), spec.short_name().as_ptr(), tp.cast()) < 0 {
                return Err(Raised);
            }
        }
    }
    Ok(module)
}

/// Module entry point for `import zloop._zloop`.
#[no_mangle]
#[allow(non_snake_case)]
pub unsafe extern "C" fn PyInit__zloop() -> *mut PyObject {
    ffi::entry::ffi_edge(init_module)
}
