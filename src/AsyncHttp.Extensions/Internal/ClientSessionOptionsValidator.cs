using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Validates the options of registered sessions with <see cref="ClientSessionOptions.Validate"/> and the binding
/// errors, each message naming the session and the key, so that a bad setting stops the host at start.
/// </summary>
internal sealed class ClientSessionOptionsValidator : IValidateOptions<ClientSessionOptions>
{
    private readonly ClientSessionCatalog _catalog;
    private readonly ClientSessionOptionsState _state;

    public ClientSessionOptionsValidator(ClientSessionCatalog catalog, ClientSessionOptionsState state)
    {
        _catalog = catalog;
        _state = state;
    }

    public ValidateOptionsResult Validate(string? name, ClientSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name is null || !_catalog.Contains(name))
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = _state.GetErrors(name, options);
        if (errors.Count == 0)
        {
            // Every options instance is built through here: at start, and after each reload.
            _state.Accept(name, options);
            return ValidateOptionsResult.Success;
        }

        // Once the host runs, a failure here would be thrown out of the configuration provider's reload. The registry
        // checks the same errors itself: it logs them, keeps a live session's current settings, and creates a session
        // not yet used from the last valid ones.
        return _state.HostStarted ? ValidateOptionsResult.Skip : ValidateOptionsResult.Fail(errors);
    }
}
