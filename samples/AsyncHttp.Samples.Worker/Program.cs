using AsyncHttp.Samples.Worker;

return await WorkerApp.RunAsync(args, Console.Out);
