using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// What the options pipeline knows beyond the options themselves: the binding errors of each options instance built,
/// the last valid options of each session, and whether the host has started (after which an invalid reload is logged
/// and ignored rather than thrown).
/// </summary>
internal sealed class ClientSessionOptionsState
{
    private readonly ConditionalWeakTable<ClientSessionOptions, List<string>> _bindingErrors = [];
    private readonly ConcurrentDictionary<string, ClientSessionOptions> _lastValid = new(StringComparer.OrdinalIgnoreCase);
    private volatile bool _hostStarted;

    /// <summary>True once the host has validated the options at start and begun starting its services.</summary>
    public bool HostStarted => _hostStarted;

    public void MarkHostStarted() => _hostStarted = true;

    /// <summary>Records <paramref name="options"/>, which passed validation, as the last valid settings of session <paramref name="name"/>.</summary>
    public void Accept(string name, ClientSessionOptions options) => _lastValid[name] = options;

    /// <summary>
    /// The last settings of session <paramref name="name"/> that passed validation: those validated at start, or a later
    /// valid reload; null when none has.
    /// </summary>
    public ClientSessionOptions? LastValid(string name) => _lastValid.GetValueOrDefault(name);

    public void AddBindingError(ClientSessionOptions options, string error)
    {
        var errors = _bindingErrors.GetValue(options, static _ => []);
        lock (errors)
        {
            errors.Add(error);
        }
    }

    /// <summary>Every problem of <paramref name="options"/>, each message naming the session and the key.</summary>
    public List<string> GetErrors(string name, ClientSessionOptions options)
    {
        List<string> all = [];
        if (_bindingErrors.TryGetValue(options, out var bindingErrors))
        {
            lock (bindingErrors)
            {
                foreach (var error in bindingErrors)
                {
                    all.Add($"Session '{name}': {error}");
                }
            }
        }

        foreach (var error in options.Validate())
        {
            all.Add($"Session '{name}': {error}");
        }

        return all;
    }
}
