namespace AsyncHttp.Internal;

/// <summary>Rejects header names and values that could split a request (RFC 9110 tokens; no CR, LF or NUL in values).</summary>
internal static class HeaderValidation
{
    private const string TokenSymbols = "!#$%&'*+-.^_`|~";

    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || TokenSymbols.Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsValidValue(string? value)
        => value is null || value.AsSpan().IndexOfAny('\r', '\n', '\0') < 0;
}
