from setuptools import setup
from setuptools_rust import Binding, RustExtension

setup(
    rust_extensions=[
        RustExtension(
            "zloop._zloop",
            path="Cargo.toml",
            binding=Binding.NoBinding,
            features=["extension-module"],
            py_limited_api=False,
        )
    ],
    zip_safe=False,
)
