"""Install the lzu package. The OpenMMLab stack is installed by mmdetection3d/install.sh."""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    scope = {}
    with open(os.path.join(HERE, "lzu", "version.py"), encoding="utf-8") as f:
        exec(f.read(), scope)
    return scope["__version__"]


setup(
    name="lzu",
    version=read_version(),
    description="Learning to Zoom and Unzoom (CVPR 2023) on the current OpenMMLab 3D stack",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["lzu", "lzu.*"]),
    python_requires=">=3.10",
    install_requires=["torch>=2.0"],
)
