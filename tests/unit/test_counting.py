import pytest

from edgekit.core import counting as C
from edgekit.core.errors import UsageError


def test_conv_macs_by_hand():
    # 3x3 conv, 16 -> 32 channels, 10x10 output: 3*3*16*32*100
    assert C.conv_macs((3, 3), 16, 32, (10, 10)) == 460_800


def test_grouped_conv_divides_input_channels():
    # groups=4: each output channel sees 16/4 = 4 input channels
    assert C.conv_macs((3, 3), 16, 32, (10, 10), groups=4) == 3 * 3 * 4 * 32 * 100
    with pytest.raises(ValueError):
        C.conv_macs((3, 3), 10, 32, (10, 10), groups=4)


def test_depthwise_and_pointwise_equal_the_paper_formula():
    # MobileNet paper eq. 5: Dk*Dk*M*Df*Df + M*N*Df*Df
    dk, m, n, df = 3, 32, 64, 112
    dw = C.depthwise_macs((dk, dk), m, 1, (df, df))
    pw = C.conv_macs((1, 1), m, n, (df, df))
    assert dw + pw == dk * dk * m * df * df + m * n * df * df
    assert C.depthwise_macs((3, 3), 8, 2, (4, 4)) == 9 * 8 * 2 * 16


def test_dense_and_transposed():
    assert C.dense_macs(1024, 1000) == 1_024_000
    assert C.dense_macs(64, 10, positions=5) == 3200
    # each of 4x4 input pixels scattered through a 2x2 kernel, 8 -> 3 channels
    assert C.transposed_conv_macs((2, 2), 8, 3, (4, 4)) == 4 * 8 * 3 * 16


def test_other_ops():
    assert C.batchnorm_ops(100) == 200
    assert C.pool_ops((3, 3), 10) == 90
    assert C.elementwise_ops(3, 10) == 20
    assert C.elementwise_ops(1, 10) == 0


def test_dtype_bytes():
    assert C.dtype_bytes("float32") == 4
    assert C.dtype_bytes("int8") == 1
    with pytest.raises(UsageError, match="unknown dtype 'float3'"):
        C.dtype_bytes("float3")
