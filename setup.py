"""Package layout: the folders are the architecture.

plpython/xmmdb -> xmmdb         Python that runs inside PostgreSQL (also used by the CLI and web shim)
loader         -> xmmdb_loader  ingestion and the sample-sky simulator (the `xmmdb` command)
webshim        -> xmmdb_web     the thin Flask layer
"""
from setuptools import find_namespace_packages, setup

ROOTS = {"xmmdb": "plpython/xmmdb", "xmmdb_loader": "loader", "xmmdb_web": "webshim"}

packages = []
for name, folder in ROOTS.items():
    # Namespace discovery: data folders (templates, static files, tables) are packages too.
    packages += [name] + [f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])]

setup(
    packages=packages,
    package_dir=ROOTS,
    package_data={"": ["*"]},
    exclude_package_data={"": ["*.pyc"]},
)
