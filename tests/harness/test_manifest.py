"""manifest.json's machine description: what makes RTFs and last-bit differences comparable."""

from __future__ import annotations

import os

from codecbench.manifest import cpu_description

_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B45
flags\t\t: fpu sse avx2 fma avx512f avx512dq avx512_bf16 sha_ni

processor\t: 1
model name\t: AMD EPYC 9B45
flags\t\t: fpu sse avx2 fma avx512f avx512dq avx512_bf16 sha_ni
"""


def test_cpu_description_reads_model_and_vector_extensions() -> None:
    cpu = cpu_description(_CPUINFO)
    assert cpu == {"model": "AMD EPYC 9B45", "logical_cores": os.cpu_count(),
                   "vector_extensions": ["avx2", "avx512f", "avx512_bf16"]}


def test_cpu_description_of_an_arm_machine_and_of_no_cpuinfo() -> None:
    assert cpu_description("processor\t: 0\nFeatures\t: fp asimd sve\n")["vector_extensions"] == ["asimd", "sve"]
    assert cpu_description("")["vector_extensions"] == []


def test_cpu_description_of_this_machine() -> None:
    cpu = cpu_description()
    assert cpu["logical_cores"] == os.cpu_count()
    if os.path.exists("/proc/cpuinfo"):
        assert cpu["model"]
