export function App() { return <h1>SharkAuth</h1>; }
