namespace KvTier.Codecs;

/// <summary>How far a decoded tensor is from the original: the error a lossy codec reports.</summary>
/// <param name="MaxAbsoluteError">Largest |original - decoded| over the elements.</param>
/// <param name="RelativeError">||original - decoded|| / ||original|| (L2 norms; 0 when both are zero).</param>
/// <param name="CosineSimilarity">original . decoded / (||original|| ||decoded||) (1 when both are zero).</param>
public readonly record struct TensorError(double MaxAbsoluteError, double RelativeError, double CosineSimilarity)
{
    /// <summary>Compares two tensors element by element; non-finite pairs that are equal (both NaN, same infinity)
    /// count as exact, any other non-finite pair makes every figure NaN.</summary>
    /// <exception cref="ArgumentException">The tensors differ in length.</exception>
    public static TensorError Measure(ReadOnlySpan<float> original, ReadOnlySpan<float> decoded)
    {
        if (original.Length != decoded.Length)
        {
            throw new ArgumentException(
                $"Tensors differ in length: {original.Length} and {decoded.Length} elements.", nameof(decoded));
        }

        double maxAbs = 0, errorSquares = 0, originalSquares = 0, decodedSquares = 0, dot = 0;
        for (var i = 0; i < original.Length; i++)
        {
            double x = original[i], y = decoded[i];
            if (!double.IsFinite(x) || !double.IsFinite(y))
            {
                if (x.Equals(y))
                {
                    continue;
                }

                return new TensorError(double.NaN, double.NaN, double.NaN);
            }

            var error = x - y;
            maxAbs = Math.Max(maxAbs, Math.Abs(error));
            errorSquares += error * error;
            originalSquares += x * x;
            decodedSquares += y * y;
            dot += x * y;
        }

        var relative = originalSquares > 0 ? Math.Sqrt(errorSquares / originalSquares) : errorSquares > 0 ? double.PositiveInfinity : 0;
        var cosine = originalSquares > 0 && decodedSquares > 0 ? dot / Math.Sqrt(originalSquares * decodedSquares)
            : originalSquares == decodedSquares ? 1 : 0;
        return new TensorError(maxAbs, relative, cosine);
    }

    /// <summary>Measures K and V of a decoded chunk against the original chunk of <paramref name="shape"/>.</summary>
    public static (TensorError Keys, TensorError Values) MeasureChunk(ReadOnlySpan<byte> original, ReadOnlySpan<byte> decoded,
        ChunkShape shape)
    {
        var elements = checked((int)shape.ElementsPerTensor);
        var tensorBytes = elements * Core.Layout.KvDataTypes.ElementSize(shape.DataType);
        if (original.Length < 2 * tensorBytes || decoded.Length < 2 * tensorBytes)
        {
            throw new ArgumentException(
                $"Chunks of {original.Length} and {decoded.Length} bytes are shorter than the shape's {2 * tensorBytes}.", nameof(shape));
        }

        var x = new float[elements];
        var y = new float[elements];
        var results = new TensorError[2];
        for (var tensor = 0; tensor < 2; tensor++)
        {
            ElementConversion.ToFloat(original.Slice(tensor * tensorBytes, tensorBytes), shape.DataType, x);
            ElementConversion.ToFloat(decoded.Slice(tensor * tensorBytes, tensorBytes), shape.DataType, y);
            results[tensor] = Measure(x, y);
        }

        return (results[0], results[1]);
    }
}
